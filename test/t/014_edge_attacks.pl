# Attacks on the Edge Functions and pg_net side of supamon (issue 10), from
# outside: a hostile Management API (a small server of this test's own, below,
# that answers whatever each test tells it to: bodies receiver.py cannot
# shape), hostile net._http_response data and pg_cron commands, a central
# database in SQL_ASCII, and resource checks (descriptors, memory, cancel).
#
# A healthy project ("good": a database with pg_cron's tables, a pg_net caller
# and two Edge Functions) is checked beside every hostile one, and is asserted
# to stay checked and right after each attack.
#
# Tests that fail today are bugs; each says what was expected.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use HTTP::Tiny;
use IPC::Run;
use MIME::Base64;
use lib 'test/perl';
use SupamonTest;

# ---------------------------------------------------------------------------
# The hostile Management API.  Rules (POST /_set, a list of {match,
# responses}): a match starting with "=" is the exact path (without its
# query), any other a substring of path and query; exact rules win, then
# substrings in the order given.  Responses are consumed one a request, the
# last one repeats.  A response: status, headers [[name, value]], body (text)
# or body_b64 or body_repeat {head, item, n, tail}, delay (s, then answer),
# hang (s, then close without answering), drip (s: an endless chunked body).
# Every request is recorded (GET /_log): path, Authorization, and a POST's body.
my $server_py = <<'PY';
import base64, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock = threading.Lock()
rules = []
log = []
def find(path):
    bare = path.split("?", 1)[0]
    for exact in (True, False):
        for r in rules:
            m = r["match"]
            if exact != m.startswith("="):
                continue
            if (exact and bare == m[1:]) or (not exact and m in path):
                if r["queue"]:
                    r["last"] = r["queue"].pop(0)
                return r["last"]
    return None
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, status, body, headers=()):
        head = "HTTP/1.1 %d X\r\n" % status
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        head += "Content-Length: %d\r\n\r\n" % len(body)
        self.wfile.write(head.encode("latin-1") + body)
        self.wfile.flush()
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_set":
            spec = json.loads(data)
            with lock:
                names = [s["match"] for s in spec]
                rules[:] = [r for r in rules if r["match"] not in names]
                for s in spec:
                    rules.append({"match": s["match"], "queue": list(s["responses"]), "last": None})
            return self.reply(200, b"{}")
        with lock:
            log.append({"path": self.path, "auth": self.headers.get("Authorization"),
                        "body": data.decode("utf-8", "replace"), "t": time.time()})
        return self.reply(200, b'{"ok":true}')
    def do_GET(self):
        if self.path == "/_log":
            with lock:
                body = json.dumps(log).encode()
            return self.reply(200, body)
        with lock:
            log.append({"path": self.path, "auth": self.headers.get("Authorization"), "t": time.time()})
            resp = find(self.path)
        if resp is None:
            return self.reply(404, b'{"message":"Not Found"}')
        if resp.get("delay"):
            time.sleep(resp["delay"])
        if resp.get("hang"):
            time.sleep(resp["hang"])
            self.close_connection = True
            return
        if resp.get("drip"):
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
                while True:
                    chunk = b'{"slug":"x"},'
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    time.sleep(resp["drip"])
            except Exception:
                pass
            self.close_connection = True
            return
        if "body_b64" in resp:
            body = base64.b64decode(resp["body_b64"])
        elif "body_repeat" in resp:
            b = resp["body_repeat"]
            body = (b["head"] + b["item"] * b["n"] + b["tail"]).encode()
        else:
            body = resp.get("body", "").encode("utf-8", "surrogatepass")
        self.reply(resp.get("status", 200), body, [tuple(h) for h in resp.get("headers", [])])
class S(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY

my $tmp = PostgreSQL::Test::Utils::tempdir('hostile');
open my $fh, '>', "$tmp/hostile.py" or die;
print $fh $server_py;
close $fh;
my $server = IPC::Run::start([ 'python3', "$tmp/hostile.py", "$tmp/port" ],
	'<', '/dev/null', '>', "$tmp/out", '2>', "$tmp/err");
my $deadline = time + 10;
sleep 0.05 until -s "$tmp/port" || time > $deadline;
my $port = slurp_file("$tmp/port");
$port =~ /^\d+$/ or BAIL_OUT('the hostile API did not start: ' . slurp_file("$tmp/err"));
my $api = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef, https_proxy => undef);
END { local $?; $server->kill_kill(grace => 1) if $server; }

# rules(match => response or [responses], ...)
sub rules
{
	my %r = @_;
	my @spec = map { { match => $_, responses => (ref $r{$_} eq 'ARRAY' ? $r{$_} : [ $r{$_} ]) } } sort keys %r;
	my $res = $http->post("$api/_set", { content => encode_json(\@spec) });
	die "rules: $res->{status}" unless $res->{success};
}
sub api_log
{
	my $res = $http->get("$api/_log");
	return @{ decode_json($res->{content}) };
}
sub json_body { return { body => encode_json($_[0]) }; }

# The token: Supabase's shape.  Its first 20 characters are what is looked
# for (a token cut short is still a token given away).
my $token = 'sbp_' . join('', map { sprintf '%x', ($_ * 7 + 3) % 16 } 1 .. 40);
my $token_part = substr($token, 0, 20);
my $closed_port = PostgreSQL::Test::Cluster::get_free_port();

my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
log_min_messages = debug1
log_statement = all
# the SQL_ASCII test at the end may crash a backend: the cluster comes back
restart_after_crash = on
supamon.supabase_access_token = '$token'
supamon.management_api_url = '$api'
supamon.http_timeout = 2000
supamon.connect_timeout = 2000
supamon.repeat_interval = '1h'
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# A project database with pg_cron's tables and pg_net's response table.
my $net_sql = q{
CREATE SCHEMA net;
CREATE TABLE net._http_response (id bigint, status_code integer, content_type text,
	headers jsonb, content text, timed_out bool, error_msg text,
	created timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON net._http_response (created);
CREATE SEQUENCE net.request_id;
};
for my $db (qw(gooddb evildb flooddb shapedb resetdb))
{
	sql("CREATE DATABASE $db");
	$node->safe_psql($db, cron_tables_sql() . ($db eq 'shapedb' ? '' : $net_sql));
}
$node->safe_psql('gooddb', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 0 1 1 *', 'SELECT 1', 'steady'),
	('0 0 1 1 *', $$SELECT net.http_post(url := 'https://goodref.supabase.co/functions/v1/hello', body := '{}')$$, 'pinger');
});
# a comment and a string that only mention pg_net, and a real caller
$node->safe_psql('evildb', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 0 1 1 *', $$SELECT 1 -- was: SELECT net.http_post('https://evilref.supabase.co/functions/v1/old')$$, 'commented'),
	('0 0 1 1 *', $$SELECT pg_notify('ops', 'next: net.http_get(''https://x.example/'')')$$, 'stringy');
});
$node->safe_psql('flooddb', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 0 1 1 *', $$SELECT net.http_post('https://floodref.supabase.co/functions/v1/ping')$$, 'ping');
});
$node->safe_psql('resetdb', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 0 1 1 *', $$SELECT net.http_post('https://resetref.supabase.co/functions/v1/tick')$$, 'caller');
});
# pg_net's table, but not its shape (no content column)
$node->safe_psql('shapedb', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 0 1 1 *', 'SELECT 1', 'plain');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, 'succeeded', '1 row', now() - interval '20 s', now() - interval '20 s' FROM cron.job;
CREATE SCHEMA net;
CREATE TABLE net._http_response (id bigint, status_code integer, timed_out bool, error_msg text,
	created timestamptz NOT NULL DEFAULT now());
});

my $h = $node->host;
my $np = $node->port;
sub conn { return "host=$h port=$np dbname=$_[0]"; }

# Projects that only the API's answers are about read this database's own
# cron tables (conninfo NULL).
my @torture = map { "t$_" } 1 .. 15;
my @retry = map { "r$_" } 1 .. 5;
sql(cron_tables_sql() . qq{
CREATE EXTENSION supamon;
SELECT supamon_add_project('good', '@{[conn('gooddb')]}', 'goodref');
SELECT supamon_add_project('evil', '@{[conn('evildb')]}', 'evilref');
SELECT supamon_add_project('flood', '@{[conn('flooddb')]}');
SELECT supamon_add_project('shape', '@{[conn('shapedb')]}');
SELECT supamon_add_project('reset', '@{[conn('resetdb')]}');
SELECT supamon_add_project('down', 'host=127.0.0.1 port=$closed_port dbname=x', 'downref');
SELECT supamon_add_project('hang40', NULL, 'hang40ref');
SELECT supamon_add_project('many50', NULL, 'many50ref');
@{[ join "\n", map { "SELECT supamon_add_project('$_', NULL, '${_}ref');" } @torture, @retry ]}
SELECT supamon_add_channel('hook', 'webhook', '$api/hook');
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'nightly');
});

# which projects the next checks look at ('good' always)
sub only
{
	my $list = join ',', map { "'$_'" } 'good', @_;
	sql("UPDATE supamon.project SET enabled = name IN ($list)");
}
only(qw(evil flood shape reset));

# Runs a check of every enabled project; returns its seconds.
sub check
{
	my ($prefix) = @_;
	my $t0 = time;
	sql(($prefix // '') . 'SELECT supamon_check_health()');
	return time - $t0;
}

# --- the healthy project's API: two functions, little traffic
my $fn = sub {
	my ($id, $slug, %o) = @_;
	return { id => $id, slug => $slug, name => $slug, status => 'ACTIVE', version => 1,
		created_at => 1767225600000, updated_at => 1767229200000, verify_jwt => JSON::PP::true, %o };
};
my $stats_ok = json_body({ result => [ { timestamp => 1, requests_count => 40, server_err_count => 1,
	client_err_count => 0 } ], error => undef });
rules(
	'=/v1/projects/goodref' => json_body({ id => 'goodref', ref => 'goodref', name => 'good', status => 'ACTIVE_HEALTHY' }),
	'=/v1/projects/goodref/functions' => json_body([ $fn->('g-1', 'hello'), $fn->('g-2', 'report') ]),
	'/v1/projects/goodref/analytics' => $stats_ok,
	'=/v1/projects/evilref' => json_body({ status => 'ACTIVE_HEALTHY' }),
	'=/v1/projects/evilref/functions' => json_body([]));

# What "still right" means for the healthy project beside each attack.
my $good_checked = '';
sub good_ok
{
	my ($label) = @_;
	my $got = sql(q{SELECT 'reachable=' || coalesce(reachable::text, '-') || ' error=' || coalesce(last_error, '-')
		|| ' edge=' || coalesce(edge_error, '-') || ' supabase=' || coalesce(supabase_status, '-')
		FROM supamon.project_status WHERE project = 'good'})
	  . ' ' . sql(q{SELECT string_agg(name || '=' || status || coalesce('/' || last_http_status, '')
			|| coalesce('/' || requests || '/' || server_errors, ''), ' ' ORDER BY type, name)
		FROM supamon.job_status WHERE project = 'good'});
	my $at = sql("SELECT last_check_at FROM supamon.project WHERE name = 'good'");
	is($got . ($at ne $good_checked ? '' : ' NOT CHECKED AGAIN'),
		'reachable=true error=- edge=- supabase=- hello=success/40/1 report=success/40/1'
		  . ' pinger=success/200 steady=success',
		"$label: the healthy project beside it is checked and right");
	$good_checked = $at;
}

# bootstrap: every project found, pg_net's table found readable
check();
is(sql("SELECT string_agg(name || '=' || coalesce(pg_net_readable::text, '-'), ',' ORDER BY name) FROM supamon.project WHERE enabled"),
	'evil=true,flood=true,good=true,reset=true,shape=false',
	'pg_net is found readable in every pg_net project, and not where the table lacks pg_net\'s columns');

# ---------------------------------------------------------------------------
# A. pg_net data
sub run_at
{
	my ($db, $job, $ago, $runid) = @_;
	$node->safe_psql($db,
		"INSERT INTO cron.job_run_details (jobid, " . ($runid ? 'runid, ' : '') . "status, return_message, start_time, end_time)"
		  . " SELECT jobid, " . ($runid ? "$runid, " : '') . "'succeeded', '1 row', now() - interval '$ago s', now() - interval '$ago s'"
		  . " FROM cron.job WHERE jobname = '$job'");
}
sub response_at
{
	my ($db, $ago, $status, $body) = @_;
	$node->safe_psql($db, "INSERT INTO net._http_response (id, status_code, content, created)"
		  . " VALUES (nextval('net.request_id'), $status, '$body', now() - interval '$ago s')");
}
run_at('gooddb', 'steady', 45);
# (judged 30 s after its window closes: pg_net commits in batches)
run_at('gooddb', 'pinger', 90);
response_at('gooddb', 89, 200, 'ok');

# A1: a job that only mentions net.http_post( in a comment (or a string) calls
# nothing; a database webhook's 500 lands in its run's window.
run_at('evildb', 'commented', 40);
run_at('evildb', 'stringy', 100);
response_at('evildb', 39, 500, 'webhook handler crashed');

# A2: 10,001 responses in the last 5 minutes (a busy project: 33 a second):
# the run's window holds another caller's 500 and its own 200, the 10,001st.
$node->safe_psql('flooddb', q{
INSERT INTO net._http_response (id, status_code, content, created)
	SELECT nextval('net.request_id'), 200, 'ok', now() - interval '250 s' FROM generate_series(1, 9999);
});
run_at('flooddb', 'ping', 60);
response_at('flooddb', 59, 500, 'another caller failed');
response_at('flooddb', 58, 200, 'ping is fine');

# A4: a caller's run whose endpoint answered 500
$node->safe_psql('resetdb', "SELECT setval('cron.job_run_details_runid_seq', 4999)");
run_at('resetdb', 'caller', 60);
response_at('resetdb', 59, 500, 'down for a moment');

check();
good_ok('pg_net data');

is(sql("SELECT string_agg(name || '=' || coalesce(calls, '-'), ',' ORDER BY name) FROM supamon.job_status WHERE project = 'evil'"),
	'commented=-,stringy=-',
	'A1 a command that names net.http_post( only in a comment, or net.http_get( only in a string, calls nothing');
is(sql("SELECT status || ': ' || coalesce(reason, '') FROM supamon.job_status WHERE project = 'evil' AND name = 'commented'"),
	'success: ',
	'A1 a job that calls nothing is never blamed for another caller\'s pg_net 500');

my $ping = sql("SELECT status || ': ' || coalesce(reason, '') FROM supamon.job_status WHERE project = 'flood' AND name = 'ping'");
unlike($ping, qr/^failed/, "A2 a run whose own answer was 200 is not failed because pg_net's 10,001st response was dropped ($ping)");
my ($nresp, $note) = split /\|/, sql("SELECT pg_net_responses || '|' || coalesce(health_note, '') FROM supamon.project_status WHERE project = 'flood'"), 2;
ok($nresp == 10001 || $note =~ /pg_net|response/i,
	"A2 10,001 responses are counted or the cut is said (pg_net_responses = $nresp, note: $note)");

# A3: a net._http_response that is a superuser's table but not pg_net's shape
my $shape = sql("SELECT reachable || ' ' || status || ' ' || coalesce(last_error, '-') FROM supamon.project_status WHERE project = 'shape'");
is($shape, 'true scheduler_down -',
	'A3 a net._http_response without pg_net\'s columns does not make the project unreachable (its pg_cron is still read)');

is(sql("SELECT status || ' ' || coalesce(last_http_status::text, '-') FROM supamon.job_status WHERE project = 'reset' AND name = 'caller'"),
	'failed 500', 'A4 (setup) a caller whose endpoint answered 500 is failed');

# A4: pg_cron reinstalled (its history gone, runids from 1 again); the next
# run's endpoint answers 200.
$node->safe_psql('resetdb', q{
TRUNCATE cron.job_run_details;
SELECT setval('cron.job_run_details_runid_seq', 1, false);
TRUNCATE net._http_response;
});
run_at('resetdb', 'caller', 80);
response_at('resetdb', 79, 200, 'fine again');
check();
good_ok('pg_net after a pg_cron reinstall');
my $reset = sql("SELECT status || ' ' || coalesce(last_http_status::text, '-') || ' ' || coalesce(reason, '') FROM supamon.job_status WHERE project = 'reset' AND name = 'caller'");
like($reset, qr/^success/,
	"A4 after runids restart (pg_cron reinstalled), a caller whose new run answered 200 recovers ($reset)");

# Where the token is in a text, shown with the token masked.
sub where_token
{
	my ($text) = @_;
	my $at = index($text, $token_part);
	return '' if $at < 0;
	my $excerpt = substr($text, $at < 60 ? 0 : $at - 60, 140);
	$excerpt =~ s/\Q$token\E/<TOKEN>/g;
	$excerpt =~ s/\Q$token_part\E/<TOKEN...>/g;
	return " (found: ...$excerpt...)";
}

# ---------------------------------------------------------------------------
# B. The token echoed back by the API in data (a slug, an id, statuses): the
# README says answers are scrubbed of it before anything is stored.
only(qw(evil));
rules(
	'=/v1/projects/evilref' => json_body({ status => $token }),
	'=/v1/projects/evilref/functions' => json_body([ $fn->($token, "leak-$token", status => $token),
		$fn->('e-2', 'fine') ]),
	'/v1/projects/evilref/analytics' => $stats_ok);
check();
good_ok('token echoed');
{
	my %where = (
		'supamon.job_inventory' => "SELECT string_agg(row_to_json(j)::text, ' ') FROM supamon.job_inventory j WHERE project_name = 'evil'",
		'supamon.project' => "SELECT row_to_json(p)::text FROM supamon.project p WHERE name = 'evil'",
		'supamon.job_status' => "SELECT string_agg(row_to_json(s)::text, ' ') FROM supamon.job_status s WHERE project = 'evil'",
		'supamon.alert_outbox' => "SELECT coalesce(string_agg(row_to_json(a)::text, ' '), '') FROM supamon.alert_outbox a WHERE project_name = 'evil'");
	for my $t (sort keys %where)
	{
		my $text = sql($where{$t});
		ok(index($text, $token_part) < 0, "B the access token the API echoed (slug, id, status) is not stored in $t"
			  . where_token($text));
	}
	sql('CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
	my $seen = $node->safe_psql('postgres', "SELECT string_agg(name || ' ' || coalesce(reason, ''), ' ') FROM supamon.job_status WHERE project = 'evil'",
		extra_params => [ '-U', 'watcher' ]);
	ok(index($seen, $token_part) < 0, 'B a non-superuser (pg_monitor) cannot read the token in supamon.job_status' . where_token($seen));
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM supamon.alert_outbox WHERE project_name = 'evil' AND state = 'pending'");
	my @sent = grep { $_->{path} eq '/hook' && index($_->{body}, $token_part) >= 0 } api_log();
	is(scalar @sent, 0, 'B and no alert carries it to a channel' . (@sent ? where_token($sent[0]{body}) : ''));
}

# ---------------------------------------------------------------------------
# C. A token that may list functions but not read the project's settings:
# the project call answers 403 at once, the function list 200 a little later.
# Nothing changes from one check to the next.
sql("DELETE FROM supamon.alert_outbox");
rules(
	'=/v1/projects/evilref' => { status => 403, body => '{"message":"Forbidden resource"}' },
	'=/v1/projects/evilref/functions' => { delay => 0.3, %{ json_body([ $fn->('e-2', 'fine') ]) } });
check() for 1 .. 4;
good_ok('403 on the project, 200 on its functions');
my $flips = sql(q{SELECT coalesce(string_agg(event, ',' ORDER BY id), '') FROM supamon.alert_outbox
	WHERE project_name = 'evil' AND job_name IS NULL AND message LIKE '%Edge Functions%'});
like($flips, qr/^(api_refused)?$/,
	"C the same 403 at every check is told at most once, not api_refused/recovered in turn ($flips)");

# ---------------------------------------------------------------------------
# D. Malformed, hostile and huge answers, one project each, all in one check.
only(@torture);
my $list = sub { my $ref = shift; return ("=/v1/projects/$ref/functions" => @_); };
rules(
	# D1 NULLs and wrong types
	$list->('t1ref', { body => '[null, 5, "x", [], {"slug": null}, {"slug": 123}, {"slug": {"a": 1}},'
		  . ' {"id": "a-1", "slug": "ok1", "status": "ACTIVE", "version": "7", "updated_at": "yesterday"}]' }),
	# D2 one slug twice
	$list->('t2ref', json_body([ $fn->('d-1', 'dup', version => 1), $fn->('d-2', 'dup', version => 3) ])),
	# D3 10,000 functions
	$list->('t3ref', { body_repeat => { head => '[', item => '{"id":"x","slug":"s","status":"ACTIVE"},', n => 9999,
		tail => '{"id":"x","slug":"s","status":"ACTIVE"}]' } }),
	# D4 a slug of 1 MB
	$list->('t4ref', json_body([ $fn->('m-1', 'm' x (1024 * 1024)) ])),
	# D5 a NUL escape and a lone surrogate
	$list->('t5ref', { body => '[{"id":"n-1","slug":"a\u0000b","status":"ACTIVE"},{"id":"n-2","slug":"\ud800","status":"ACTIVE"}]' }),
	# D6 invalid UTF-8
	$list->('t6ref', { body_b64 => encode_base64(qq{[{"id":"u-1","slug":"caf\xe9\xff","status":"ACTIVE"}]}, '') }),
	# D7 100,000 levels of nesting
	$list->('t7ref', { body => '[' x 100000 }),
	# D8 numbers out of range
	$list->('t8ref', { body => '[{"id":"b-1","slug":"bignum","status":"ACTIVE","version":1e400,"updated_at":-5}]' }),
	# D9 a 200 with HTML
	$list->('t9ref', { body => '<html><body>Bad gateway</body></html>', headers => [[ 'Content-Type', 'text/html' ]] }),
	# D10 a redirect elsewhere
	$list->('t10ref', { status => 301, headers => [[ 'Location', "$api/stolen/functions" ]], body => '' }),
	# D11 an endless chunked body
	$list->('t11ref', { drip => 0.001 }),
	# D12 statuses of 200 characters
	$list->('t12ref', json_body([ $fn->('s-1', 'longstatus', status => 'A' x 200) ])),
	'=/v1/projects/t12ref' => json_body({ status => 'INACTIVE' . ('X' x 200) }),
	# D13 an error object quoting the token
	$list->('t13ref', { status => 500, body => encode_json({ error => { message => "token $token is not valid here" } }) }),
	# D14 traffic: 10,000 buckets of 10^15 requests, all server errors
	$list->('t14ref', json_body([ $fn->('o-1', 'overflow') ])),
	'/v1/projects/t14ref/analytics' => { body_repeat => { head => '{"error":null,"result":[',
		item => '{"requests_count":1e15,"server_err_count":1e15},', n => 9999,
		tail => '{"requests_count":1e15,"server_err_count":1e15}]}' } },
	# D15 traffic in a shape that is not the API's
	$list->('t15ref', json_body([ $fn->('w-1', 'wrongshape') ])),
	'/v1/projects/t15ref/analytics' => json_body({ result => { requests_count => 100, server_err_count => 100 } }),
);
for my $t (@torture)
{
	rules("=/v1/projects/${t}ref" => json_body({ status => 'ACTIVE_HEALTHY' })) unless $t eq 't12';
}
my $took = check('SET supamon.http_timeout = 1500;');
cmp_ok($took, '<', 4, sprintf('D one check of 15 hostile APIs (one dripping forever) ends within its timeouts (%.1f s)', $took));
good_ok('hostile answers');
sub edge_error { return sql("SELECT coalesce(edge_error, '-') FROM supamon.project_status WHERE project = '$_[0]'"); }
sub fns
{
	return sql("SELECT coalesce(string_agg(left(name, 20) || '=' || status, ' ' ORDER BY name), '') FROM supamon.job_status WHERE project = '$_[0]' AND type = 'edge_function'");
}
like(fns('t1'), qr/^ok1=/, 'D1 NULLs and wrong types are skipped, the usable function is listed');
like(fns('t2') . ' ' . edge_error('t2'), qr/^dup=\S+ .*listed twice/, 'D2 a slug listed twice is one function, and said');
like(edge_error('t3'), qr/more than 1000 Edge Functions/, 'D3 10,000 functions: an error with the reason');
is(sql("SELECT length(name) < 250 FROM supamon.job_status WHERE project = 't4' AND type = 'edge_function'"), 't', 'D4 a 1 MB slug is cut');
is(fns('t5'), '?=unknown a?b=unknown', 'D5 \\u0000 and a lone surrogate read as "?", never raised');
like(edge_error('t6'), qr/not the JSON/, 'D6 invalid UTF-8: an error');
like(edge_error('t7'), qr/not the JSON/, 'D7 deep nesting: an error, no stack overflow');
is(sql("SELECT coalesce(function_version::text, 'null') FROM supamon.job_status WHERE project = 't8' AND type = 'edge_function'"), 'null',
	'D8 a version of 1e400 is unknown');
like(edge_error('t9'), qr/not the JSON/, 'D9 a 200 with HTML: an error');
like(edge_error('t10'), qr/HTTP 301/, 'D10 a redirect is an error');
is(scalar(grep { $_->{path} =~ m{^/stolen} } api_log()), 0, 'D10 and it is not followed (the token never goes elsewhere)');
like(edge_error('t11'), qr/no answer|timed out|timeout/i, 'D11 an endless body ends with the timeout');
is(sql("SELECT length(edge_error) IS NULL FROM supamon.project_status WHERE project = 't12'")
	  . ' ' . sql("SELECT length(reason) < 300 FROM supamon.job_status WHERE project = 't12' AND type = 'edge_function'"),
	't t', 'D12 statuses of 200 characters are cut');
my $e13 = edge_error('t13');
like($e13, qr/HTTP 500: token/, "D13 an error quoting the token is reported ($e13)");
ok(index($e13, $token_part) < 0, 'D13 without the token');
my $o = sql("SELECT status || ' ' || coalesce(requests::text, '-') || ' ' || coalesce(server_errors::text, '-') FROM supamon.job_status WHERE project = 't14' AND type = 'edge_function'");
unlike($o, qr/^success|-\d/,
	"D14 10,000 buckets of 10^15 requests, all 5xx: never negative figures, never success ($o)");
my $w = sql("SELECT status || ' ' || coalesce(requests::text, '-') || ' ' || coalesce(reason, '') FROM supamon.job_status WHERE project = 't15' AND type = 'edge_function'");
unlike($w, qr/^success/,
	"D15 traffic in an unexpected shape ({\"result\": {...}}) is not read as 0 requests and success ($w)");

# ---------------------------------------------------------------------------
# E. 429s with odd times: huge, negative, a date, a reset in the past, far
# ahead.  Never before 1 s, never later than an hour, never hammered.
only(@retry);
my $now = time;
my %r429 = (
	r1 => [[ 'Retry-After', '99999999999' ]],
	r2 => [[ 'Retry-After', '-5' ]],
	r3 => [[ 'Retry-After', 'Wed, 21 Oct 2015 07:28:00 GMT' ]],
	r4 => [[ 'X-RateLimit-Reset', int($now) - 3600 ], [ 'X-RateLimit-Remaining', '0' ]],
	r5 => [[ 'X-RateLimit-Reset', int($now) + 10 * 365 * 86400 ]]);
rules(map { ("/v1/projects/${_}ref" => { status => 429, headers => $r429{$_}, body => '{"message":"Too many requests"}' }) } sort keys %r429);
check();
good_ok('429s');
my $waits = sql(q{SELECT string_agg(name || '=' || round(extract(epoch FROM api_blocked_until - now()) / 60), ',' ORDER BY name)
	FROM supamon.project WHERE name LIKE 'r_'});
is($waits, 'r1=60,r2=1,r3=1,r4=1,r5=60', 'E odd rate-limit times: at most an hour, else the default minute');
my $before = scalar grep { $_->{path} =~ m{/v1/projects/r\dref} } api_log();
check();
my $after = scalar grep { $_->{path} =~ m{/v1/projects/r\dref} } api_log();
is($after, $before, 'E a project limited by a 429 is not asked again before its time');

# ---------------------------------------------------------------------------
# F. The analytics endpoint hangs for a project with 40 functions: one
# project's API must not hold the whole fleet's check for 20 timeouts.
only(qw(hang40));
rules('=/v1/projects/hang40ref' => json_body({ status => 'ACTIVE_HEALTHY' }),
	'=/v1/projects/hang40ref/functions' => json_body([ map { $fn->("h-$_", "fn$_") } 1 .. 40 ]),
	'/v1/projects/hang40ref/analytics' => { hang => 30 });
$took = check('SET supamon.http_timeout = 200;');
cmp_ok($took, '<', 2,
	sprintf('F a check whose http_timeout is 0.2 s, with one project\'s analytics hanging for its 40 functions, ends in under 2 s (%.1f s)', $took));
good_ok('analytics hanging');
like(sql("SELECT coalesce(edge_error, '-') FROM supamon.project_status WHERE project = 'hang40'"),
	qr/traffic of 20 Edge Function\(s\) could not be read/,
	'F the project says the traffic asked for (20 of the 40, the rest in turns) was not read');

# ---------------------------------------------------------------------------
# G. One outage of a database that does not answer, while the API's word on
# the project flips between INACTIVE and ACTIVE_HEALTHY at every check.
only(qw(down));
sql("DELETE FROM supamon.alert_outbox");
rules('=/v1/projects/downref' => [ map { json_body({ status => $_ % 2 ? 'ACTIVE_HEALTHY' : 'INACTIVE' }) } 0 .. 5 ],
	'=/v1/projects/downref/functions' => json_body([]));
check() for 1 .. 6;
good_ok('paused flip-flop');
my $storm = sql(q{SELECT string_agg(event, ',' ORDER BY id) FROM supamon.alert_outbox
	WHERE project_name = 'down' AND job_name IS NULL});
my $nstorm = () = $storm =~ /\w+/g;
cmp_ok($nstorm, '<=', 2, "G one outage seen 6 times with the API's status flipping is not an alert at every check ($storm)");

# ---------------------------------------------------------------------------
# H. Resources: descriptors across checks with a hanging and a refused API,
# cancel and statement_timeout during a hanging call, memory across checks of
# 50 functions each.
only(qw(many50));
rules('=/v1/projects/many50ref' => json_body({ status => 'ACTIVE_HEALTHY' }),
	'=/v1/projects/many50ref/functions' => json_body([ map { $fn->("f-$_", "f$_") } 1 .. 50 ]),
	'/v1/projects/many50ref/analytics' => $stats_ok,
	'/hang/' => { hang => 60 });
{
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_safe('SET client_min_messages = warning');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	my $datadir = $node->data_dir;
	my $fds = sub {
		return scalar grep { my $t = readlink("/proc/$pid/fd/$_") // ''; $t !~ m{^\Q$datadir\E} }
		  map { m{/(\d+)$} ? $1 : () } glob("/proc/$pid/fd/*");
	};
	$session->query_safe('SELECT supamon_check_health()') for 1 .. 3;
	my $fd0 = $fds->();
	$session->query_safe("SET supamon.management_api_url = '$api/hang'; SET supamon.http_timeout = 100;"
		  . ' SELECT supamon_check_health();' x 30);
	my $fd1 = $fds->();
	$session->query_safe("SET supamon.management_api_url = 'http://127.0.0.1:$closed_port';"
		  . ' SELECT supamon_check_health();' x 200);
	my $fd2 = $fds->();
	is("$fd1 $fd2", "$fd0 $fd0", "H descriptors of the checking backend: $fd0, after 30 checks with a hanging API $fd1, after 200 with a refused one $fd2");

	my $t0 = time;
	my ($out, $ret) = $session->query("SET statement_timeout = '1s'; SET supamon.http_timeout = 60000;"
		  . " SET supamon.management_api_url = '$api/hang'; SELECT supamon_check_health()");
	my $t = time - $t0;
	like($session->{stderr} // '', qr/statement timeout/, 'H statement_timeout ends a check waiting for a hanging API');
	cmp_ok($t, '<', 3, sprintf('H within %.1f s', $t));
	$session->{stderr} = '';
	$session->query_safe("RESET statement_timeout");
	is($fds->(), $fd0, 'H and leaves no curl handle or socket behind');

	$session->query_safe("RESET supamon.management_api_url; RESET supamon.http_timeout;");
	my $mem = sub {
		# private memory: what the backend touched of shared memory is not its own
		my ($kb) = slurp_file("/proc/$pid/status") =~ /^RssAnon:\s+(\d+) kB/m;
		return $kb;
	};
	$session->query_safe(' SELECT supamon_check_health();' x 50);
	my $m0 = $mem->();
	$session->query_safe(' SELECT supamon_check_health();' x 150);
	my $m1 = $mem->();
	cmp_ok($m1 - $m0, '<', 2048, "H private memory of the backend after 50 and 200 checks of 50 functions each: $m0 kB, $m1 kB");
	is(sql("SELECT count(*) FROM supamon.job_status WHERE project = 'many50' AND status = 'success'"), '50',
		'H the 50 functions were read each time');
	$session->quit;
}
{
	my ($out, $err) = ('', '');
	my $hp = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		  "SET supamon.http_timeout = 60000; SET supamon.management_api_url = '$api/hang'; SELECT supamon_check_health()" ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%SELECT supamon_check_health()' AND query LIKE '%/hang%' AND pid <> pg_backend_pid()");
	sleep 0.5;
	my $t0 = time;
	sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%SELECT supamon_check_health()' AND query LIKE '%/hang%' AND pid <> pg_backend_pid()");
	$hp->finish;
	my $t = time - $t0;
	like($err, qr/canceling statement due to user request/, 'H pg_cancel_backend cancels a check waiting for a hanging API');
	cmp_ok($t, '<', 2, sprintf('H within %.1f s', $t));
}
only(qw(evil));
check();
good_ok('after the resource checks');

# ---------------------------------------------------------------------------
# I. The token in the server log (log_min_messages = debug1, log_statement =
# all), after all of the above.
my $log = slurp_file($node->logfile);
ok(index($log, $token_part) < 0, 'I the access token never reached the server log');

# The README's own way to set the token: ALTER SYSTEM, then pg_reload_conf().
# (The statement itself is logged by log_statement; what is looked for is any
# other line.)
my $token2 = 'sbp_' . join('', map { sprintf '%x', ($_ * 5 + 1) % 16 } 1 .. 40);
my $log_at = -s $node->logfile;
sql("ALTER SYSTEM SET supamon.supabase_access_token = '$token2'");
sql('SELECT pg_reload_conf()');
sleep 1;
check();
$log = substr(slurp_file($node->logfile), $log_at);
my @lines = grep { index($_, substr($token2, 0, 20)) >= 0 && !/statement: ALTER SYSTEM/ } split /\n/, $log;
is(scalar @lines, 0, 'I following the README (ALTER SYSTEM + pg_reload_conf) does not write the token to the server log'
	  . (@lines ? ": $lines[0]" : ''));
$node->safe_psql('postgres', 'ALTER SYSTEM RESET supamon.supabase_access_token');

# ---------------------------------------------------------------------------
# J. A central database in SQL_ASCII (last: a crash ends the cluster's other
# sessions).  JSON with \uXXXX escapes must be read there too, and never
# raise or crash.
sql("CREATE DATABASE asc_central ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql('asc_central', cron_tables_sql() . q{
CREATE EXTENSION supamon;
SELECT supamon_add_project('ascii', NULL, 'asciiref');
});
rules('=/v1/projects/asciiref' => { status => 500, body => 'oops' },
	'=/v1/projects/asciiref/functions' => { body => '[{"id":"a-1","slug":"alpha","status":"ACTIVE","version":1},'
		  . '{"id":"a-2","slug":"caf\u00e9","status":"ACTIVE","version":1}]' },
	'/v1/projects/asciiref/analytics' => $stats_ok);
my ($rc, $stdout, $stderr) = $node->psql('asc_central', 'SELECT supamon_check_health()');
is($node->safe_psql('asc_central', "SELECT coalesce(string_agg(job_name, ',' ORDER BY job_name), '') FROM supamon.job_inventory WHERE job_type = 'edge_function'"),
	"alpha,caf\xc3\xa9", 'J in a SQL_ASCII database the functions the API lists are read (not all dropped)');
rules('=/v1/projects/asciiref' => json_body({ status => 'ACTIVE_HEALTHY' }));
$log_at = -s $node->logfile;
($rc, $stdout, $stderr) = $node->psql('asc_central', 'SELECT supamon_check_health()');
is($rc, 0, 'J a check in a SQL_ASCII database whose API answers a JSON object succeeds' . ($stderr ? ": $stderr" : ''));
$log = substr(slurp_file($node->logfile), $log_at);
unlike($log, qr/terminated by signal/, 'J and no server process crashes');
# let a crashed cluster come back before the end
$node->poll_query_until('postgres', 'SELECT true');

done_testing();
