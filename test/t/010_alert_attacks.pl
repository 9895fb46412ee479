# Attacks on alert delivery, kept from an outside attack on issue 9's first
# version (df02173), where 12 of these failed: a hostile HTTP endpoint of the
# test's own (each behaviour chosen by a word in the request path), channels
# and outbox rows written by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use JSON::PP;

# ---------------------------------------------------------------------------
# The hostile endpoint.
my $dir = PostgreSQL::Test::Utils::tempdir('hostile');
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $script = "$dir/hostile.py";
open my $fh, '>', $script or die;
print $fh <<'EOF';
import sys, json, time, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
counts = {}
lock = threading.Lock()
KEYS = ('echo2', 'deep', 'rlreset', 'migrate', 'zero429', 'hang', 'ok')
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def reply(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Content-Type', 'application/json')
        self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        with lock: body = json.dumps(counts).encode()
        self.reply(200, body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        p = self.path
        key = next((w for w in KEYS if w in p), 'other')
        with lock: counts[key] = counts.get(key, 0) + 1
        if key == 'deep':        # valid UTF-8, nested 32,000 deep
            self.reply(500, b'[' * 32000)
        elif key == 'rlreset':   # Discord-style headers, absurd reset
            self.reply(204, b'', [('X-RateLimit-Remaining', '0'), ('X-RateLimit-Reset-After', '1e12')])
        elif key == 'echo2':     # like n8n: quotes the webhook path, not the URL
            seg = p.split('?')[0]
            self.reply(500, json.dumps({'message': 'unknown hook ' + seg.rsplit('/', 1)[-1] + ' at ' + seg}).encode())
        elif key == 'migrate':   # always "migrated"
            self.reply(400, json.dumps({'ok': False, 'error_code': 400, 'description': 'Bad Request: group chat was upgraded to a supergroup chat', 'parameters': {'migrate_to_chat_id': -1001234567890}}).encode())
        elif key == 'zero429':
            self.reply(429, json.dumps({'message': 'You are being rate limited.', 'retry_after': 0}).encode())
        elif key == 'hang':
            time.sleep(3600)
        else:
            self.reply(204)
s = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
EOF
close $fh;
my $server = IPC::Run::start([ 'python3', $script, $port ], '>', "$dir/out", '2>', "$dir/err");
my $base = "http://127.0.0.1:$port";

sub hits
{
	my ($key) = @_;
	my $json = `curl -s $base/_stats`;
	my $c = eval { decode_json($json) } // {};
	return $c->{$key} // 0;
}

for (1 .. 50) { last if `curl -s $base/_stats` =~ /^\{/; sleep 0.1; }

my $node = PostgreSQL::Test::Cluster->new('attack');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
log_min_messages = debug1
log_statement = none
supamon.telegram_api_url = '$base/'
supamon.retry_backoff = 1
supamon.max_attempts = 3
supamon.http_timeout = 3000
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION supamon;
CREATE ROLE mon LOGIN IN ROLE pg_monitor;
CREATE DATABASE nopre;
});
$node->safe_psql('nopre', 'CREATE EXTENSION supamon');

sub sq { return $node->safe_psql('postgres', $_[0]); }

# Queues an alert by hand and wakes the worker (a reload sets its latch;
# hand-written rows wake nobody: see the last test).
sub queue
{
	my ($db, $chan, $job, $n) = @_;
	$n //= 1;
	$node->safe_psql($db, qq{
INSERT INTO supamon.alert_outbox (channel, channel_id, project_name, job_name, event, criticality, message)
SELECT c.channel, c.id, 'p', '$job' || CASE WHEN $n > 1 THEN g::text ELSE '' END, 'failed', 'critical', 'm'
FROM supamon.alert_config c, generate_series(1, $n) g WHERE c.name = '$chan';
SELECT pg_reload_conf();});
}

sub worker_pid { return sq("SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon worker'"); }

sub delivery_context_bytes
{
	my $pid = worker_pid();
	my $off = -s $node->logfile;
	sq("SELECT pg_log_backend_memory_contexts($pid)");
	for (1 .. 50)
	{
		my $log = slurp_file($node->logfile, $off);
		return $1 if $log =~ /supamon delivery: (\d+) total/;
		sleep 0.1;
	}
	return -1;
}

sub disable { sq("UPDATE supamon.alert_config SET enabled = false WHERE name = '$_[0]'"); }

# ---------------------------------------------------------------------------
# 1. Memory: the worker's long-lived "supamon delivery" context must not grow
# with the number of deliveries.  (The 32 kB answer buffer was allocated in
# the worker-lifetime context, never freed.)
sq(q{SELECT supamon_add_channel('okhook', 'webhook', '} . "$base/ok" . q{')});
queue('postgres', 'okhook', 'warm', 50);
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM supamon.alert_outbox WHERE state IN ('pending','sending')");
my $before = delivery_context_bytes();
queue('postgres', 'okhook', 'mem', 1000);
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM supamon.alert_outbox WHERE state IN ('pending','sending')"),
	'1000 deliveries done');
my $after = delivery_context_bytes();
cmp_ok($after - $before, '<', 2_000_000,
	"worker delivery context stable over 1000 deliveries ($before -> $after bytes)");

# ---------------------------------------------------------------------------
# 2. A webhook answering 32,000 nested '[': the worker must not die (it
# raised "stack depth limit exceeded" in parse_answer, exited, restarted every
# 10 s, resent, forever), and the alert must be recorded as a failure.
my $log_off = -s $node->logfile;
sq(q{SELECT supamon_add_channel('deep', 'webhook', '} . "$base/deep" . q{')});
queue('postgres', 'deep', 'deep1');
sleep 4;
my $log = slurp_file($node->logfile, $log_off);
unlike($log, qr/supamon worker.*exited with exit code 1/, 'a deeply nested answer does not kill the worker');
is(sq("SELECT state <> 'sending' AND attempts >= 1 FROM supamon.alert_outbox WHERE job_name = 'deep1'"), 't',
	'the deeply nested answer is recorded as a failed attempt');
disable('deep');

# Without a worker (database nopre), the same answer must not make
# supamon_check_health() raise (its whole check would be rolled back).
$node->safe_psql('nopre', q{SELECT supamon_add_channel('deep', 'webhook', '} . "$base/deep" . q{')});
queue('nopre', 'deep', 'deep2');
my ($rc, $out, $err) = $node->psql('nopre', 'SELECT supamon_check_health()');
is($rc, 0, 'supamon_check_health() survives a deeply nested answer') or diag($err);
$node->safe_psql('nopre', "UPDATE supamon.alert_config SET enabled = false WHERE name = 'deep'");

# ---------------------------------------------------------------------------
# 3. X-RateLimit-Remaining: 0 with X-RateLimit-Reset-After: 1e12: the
# proactive wait had no cap, so the channel was silenced in the worker's
# memory for 31,000 years, with nothing in supamon.alerts saying why.
sq(q{SELECT supamon_add_channel('rl', 'webhook', '} . "$base/rlreset" . q{')});
queue('postgres', 'rl', 'rl1');
$node->poll_query_until('postgres', "SELECT state = 'sent' FROM supamon.alert_outbox WHERE job_name = 'rl1'");
queue('postgres', 'rl', 'rl2');
sleep 1;
# an hour at most is what the 429 path allows; here, 10 s is enough to fail
my $rl_ok = 0;
for (1 .. 100)
{
	$rl_ok = 1, last if sq("SELECT state = 'sent' OR next_attempt_at > now() + interval '1 s' FROM supamon.alert_outbox WHERE job_name = 'rl2'") eq 't';
	sleep 0.1;
}
ok($rl_ok, 'an absurd X-RateLimit-Reset-After does not silence a channel invisibly (10 s)');
disable('rl');

# ---------------------------------------------------------------------------
# 4. A Telegram endpoint that answers migrate_to_chat_id every time: the
# worker resent at once, not counted as an attempt, ~20 requests a second,
# a LOG line each, never dead.
sq(q{SELECT supamon_add_channel('mig', 'telegram', bot_token => '500:migrateaaaaaaaaaaaaaaaaaaaaaaa', chat_id => '-100')});
my $h0 = hits('migrate');
queue('postgres', 'mig', 'mig1');
sleep 5;
my $n = hits('migrate') - $h0;
cmp_ok($n, '<=', 6, "endless migrate_to_chat_id: $n requests in 5 s");
disable('mig');

# Same with a 429 whose retry_after is 0, forever: never counted, never dead.
sq(q{SELECT supamon_add_channel('z429', 'webhook', '} . "$base/zero429" . q{')});
$h0 = hits('zero429');
queue('postgres', 'z429', 'z1');
sleep 5;
$n = hits('zero429') - $h0;
cmp_ok($n, '<=', 10, "429 with retry_after 0 forever: $n requests in 5 s");
disable('z429');

# ---------------------------------------------------------------------------
# 5. Secrets.  An endpoint that quotes its path (n8n does: "The requested
# webhook \"POST <uuid>\" is not registered") put the webhook's secret in
# supamon.alerts.last_error, readable by pg_monitor, when only the whole URL
# was scrubbed.
my $wh_secret = 'Zk8pQ2vX9mLwTnB4rY7s';
sq(q{SELECT supamon_add_channel('echo2', 'webhook', '} . "$base/hooks/echo2-$wh_secret" . q{')});
sq(q{SELECT supamon_add_channel('echo3', 'discord', '} . "$base/api/webhooks/78/echo2$wh_secret?thread_id=5" . q{')});
queue('postgres', 'echo2', 'e2');
queue('postgres', 'echo3', 'e3');
$node->poll_query_until('postgres', "SELECT count(*) = 2 FROM supamon.alert_outbox WHERE job_name IN ('e2','e3') AND state = 'dead'");
my $seen = $node->safe_psql('postgres', "SELECT string_agg(last_error, ' | ') FROM supamon.alerts WHERE job IN ('e2','e3')",
	extra_params => [ '-U', 'mon' ]);
unlike($seen, qr/$wh_secret/, "no webhook secret in supamon.alerts.last_error: $seen");
disable('echo2');
disable('echo3');

# Channels written by hand (or kept from 0.1.0-0.5.0, which never checked
# them): the view's regexp shows userinfo, and the whole value when the URL
# has no scheme.
sq(q{
INSERT INTO supamon.alert_config (name, channel, webhook_url, enabled) VALUES
 ('cred', 'webhook', 'https://user:hunter2@example.com/x', false),
 ('noscheme', 'discord', 'discord.com/api/webhooks/1/NOSCHEMEsecretTOKEN', false);
INSERT INTO supamon.alert_outbox (channel, channel_id, event, message, state)
SELECT channel, id, 'failed', 'm', 'dead' FROM supamon.alert_config WHERE name IN ('cred', 'noscheme');
});
$seen = $node->safe_psql('postgres', "SELECT string_agg(target, ' | ') FROM supamon.alerts WHERE channel_name IN ('cred','noscheme')",
	extra_params => [ '-U', 'mon' ]);
unlike($seen, qr/hunter2|NOSCHEMEsecretTOKEN/, "supamon.alerts.target redacts hand-written URLs: $seen");

my $all_log = slurp_file($node->logfile);
unlike($all_log, qr/$wh_secret|hunter2|migrateaaaa/, 'no secret in the server log');

# ---------------------------------------------------------------------------
# 6. Without a worker: a hanging webhook was cut by the check's deadline
# (= supamon.http_timeout, the same as curl's own timeout, so curl never
# reported it) and requeued without an attempt or an error: never dead,
# invisible, and every check paid the full timeout.
$node->safe_psql('nopre', q{SELECT supamon_add_channel('hang', 'webhook', '} . "$base/hang" . q{')});
queue('nopre', 'hang', 'h1');
$node->safe_psql('nopre', 'SET supamon.http_timeout = 1000; SELECT supamon_check_health()') for 1 .. 3;
is($node->safe_psql('nopre', "SELECT attempts > 0 AND last_error IS NOT NULL FROM supamon.alerts WHERE job = 'h1'"), 't',
	'a hanging webhook is recorded as a failed attempt when the check delivers');
$node->safe_psql('nopre', "UPDATE supamon.alert_config SET enabled = false WHERE name = 'hang'");

# Cancel and statement_timeout during that delivery (held at df02173).
$node->safe_psql('nopre', "UPDATE supamon.alert_config SET enabled = true WHERE name = 'hang'");
$node->safe_psql('nopre', "UPDATE supamon.alert_outbox SET next_attempt_at = now() WHERE job_name = 'h1'");
my $t0 = time;
($rc, $out, $err) = $node->psql('nopre', 'SET statement_timeout = 500; SET supamon.http_timeout = 20000; SELECT supamon_check_health()');
ok(time - $t0 < 3 && $err =~ /statement timeout/, 'statement_timeout stops a check that delivers to a hanging webhook');
$node->safe_psql('nopre', "UPDATE supamon.alert_config SET enabled = false WHERE name = 'hang'");

# ---------------------------------------------------------------------------
# 7. Head-of-line blocking: the claim read the first 1000 due rows in id
# order; when they all belonged to one slow channel (8 at a time), a critical
# alert to a healthy channel behind them waited for minutes.
sq("ALTER SYSTEM SET supamon.http_timeout = 60000");
sq(q{SELECT supamon_add_channel('hang', 'webhook', '} . "$base/hang" . q{', criticality => 'low')});
queue('postgres', 'hang', 'slow', 1100);
queue('postgres', 'okhook', 'CRITICAL-ONE');
my $sent = 0;
for (1 .. 100) { $sent = 1, last if sq("SELECT state FROM supamon.alert_outbox WHERE job_name = 'CRITICAL-ONE'") eq 'sent'; sleep 0.1; }
ok($sent, 'a critical alert is not stuck behind 1100 alerts of a slow channel (10 s)');
disable('hang');
sq("UPDATE supamon.alert_outbox SET state = 'dead' WHERE job_name LIKE 'slow%'");
sq("ALTER SYSTEM RESET supamon.http_timeout");
sq("SELECT pg_reload_conf()");

# ---------------------------------------------------------------------------
# 8. The worker looked at the outbox only when woken: rows made due outside
# supamon_check_health() (an operator retrying dead letters) waited for the
# next check's commit.
$node->safe_psql('postgres', q{
INSERT INTO supamon.alert_outbox (channel, channel_id, project_name, job_name, event, criticality, message)
SELECT channel, id, 'p', 'nowake', 'failed', 'critical', 'm' FROM supamon.alert_config WHERE name = 'okhook'});
$sent = 0;
for (1 .. 150) { $sent = 1, last if sq("SELECT state FROM supamon.alert_outbox WHERE job_name = 'nowake'") eq 'sent'; sleep 0.1; }
ok($sent, 'a due row nobody woke the worker for is delivered within 15 s');

$node->stop('fast');
$server->kill_kill;
done_testing();
