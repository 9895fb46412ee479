# Edge Functions through the Supabase Management API, end to end: a local
# fake of the API (test/receiver.py) answers, refuses, rate-limits, hangs,
# babbles and floods; supamon_check_health() is run by hand and what a user
# would look at is checked: supamon.job_status, supamon.project_status,
# supamon.alert_outbox / supamon.alerts, the server log, and the requests the
# fake API recorded.
#
# Projects (all on the "central" cluster; pg_cron's tables written by hand in
# its postgres database, pg_cron's launcher running so the scheduler is up):
#	main	this database (conninfo NULL), ref mainref: the functions
#	sleepy, down	a database on a closed port, refs sleepref and downref
#	alpha, beta, gamma	this database again, refs hangref, slowaref, slowbref
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $r = Receiver->start;

# The real token, and another one: neither may ever show anywhere.
my $token = 'sbp_edgetap_right_7c1f0e5b9a2d4c6e8f01';
# (one without Supabase's sbp_ shape: only supamon's scrubbing of the token
# in use can hide it, not its redaction of known secret shapes)
my $wrong = 'edgetap-wrong-3b8d2a6f0c9e1d7a5b42';

my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon,pg_cron'
cron.database_name = 'postgres'
# the test's own statements hold a token (SET); supamon's messages must not
log_statement = none
log_min_messages = debug1
supamon.supabase_access_token = '$token'
supamon.management_api_url = '@{[$r->api_url]}'
supamon.http_timeout = 3000
supamon.connect_timeout = 2000
supamon.repeat_interval = '1h'
supamon.edge_error_rate = 0.2
supamon.edge_min_requests = 10
});
$node->start;

# ---------------------------------------------------------------------------
# The fake Management API's state for mainref, kept here and sent whole.
my %fn = (
	hello => { slug => 'hello', version => 3 },
	report => { slug => 'report', version => 7 },
	few => { slug => 'few', version => 1 },
	gone => { slug => 'gone', version => 2 },
);
my %stats = (
	hello => { requests => 50, server_errors => 1, client_errors => 3 },
	report => { requests => 100, server_errors => 2, client_errors => 0 },
	few => { requests => 6, server_errors => 5, client_errors => 0 },
);
my @listed = qw(hello report few gone);

sub main_api
{
	return { status => 'ACTIVE_HEALTHY', functions => [ map { $fn{$_} } @listed ],
		stats => {%stats} };
}
sub push_main { $r->api_patch({ projects => { mainref => main_api() } }); }

$r->api_state({ token => $token, projects => { mainref => main_api() } });

$node->safe_psql('postgres', cron_tables_sql() . qq{
CREATE EXTENSION supamon;
CREATE FUNCTION run(name text, status text, msg text) RETURNS void LANGUAGE sql AS \$\$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, status, msg, now() - interval '5 seconds', now() - interval '4 seconds'
	FROM cron.job WHERE jobname = name \$\$;
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'nightly');
SELECT supamon_add_project('main', NULL, 'mainref');
SELECT supamon_add_channel('hook', 'webhook', '@{[$r->url('/hook')]}');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"),
	'pg_cron launcher up');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Runs a check (of one project, or of all enabled ones); returns its seconds.
sub check
{
	my ($project, $prefix) = @_;
	my $arg = defined $project ? "'$project'" : '';
	my $t0 = time;
	$node->safe_psql('postgres', ($prefix // '') . "SELECT supamon_check_health($arg)");
	return time - $t0;
}

# An Edge Function's row in supamon.job_status, as a hash.
sub edge
{
	my ($slug, $project) = @_;
	$project //= 'main';
	my $json = sql(qq{SELECT row_to_json(s) FROM supamon.job_status s
		WHERE project = '$project' AND type = 'edge_function' AND name = '$slug'});
	return $json eq '' ? {} : decode_json($json);
}

# The pg_cron job's row.
sub cron_job
{
	my ($name) = @_;
	my $json = sql(qq{SELECT row_to_json(s) FROM supamon.job_status s
		WHERE project = 'main' AND type = 'pg_cron' AND name = '$name'});
	return $json eq '' ? {} : decode_json($json);
}

sub project
{
	my ($name) = @_;
	my $json = sql(qq{SELECT row_to_json(p) FROM supamon.project_status p WHERE project = '$name'});
	return $json eq '' ? {} : decode_json($json);
}

# Alerts queued (one channel: one row an alert).
sub alerts
{
	my ($project, $job, $event) = @_;
	my $job_cond = defined $job ? "job_name = '$job'" : 'job_name IS NULL';
	return sql(qq{SELECT count(*) FROM supamon.alert_outbox
		WHERE project_name = '$project' AND $job_cond AND event = '$event'});
}

sub statuses
{
	my ($project) = @_;
	$project //= 'main';
	return sql(qq{SELECT string_agg(name || ':' || status, ' ' ORDER BY name) FROM supamon.job_status
		WHERE project = '$project' AND type = 'edge_function'});
}

# How many requests the receiver recorded, and those after the first $n.
sub nreq { my @all = $r->requests(@_); return scalar @all; }
sub after { my ($n) = @_; my @all = $r->requests; return @all[ $n .. $#all ]; }

# How many Management API requests for a ref (whose path holds $what).
sub api_calls
{
	my ($ref, $what) = @_;
	my @calls = grep { !defined $what || index($_->{path}, $what) >= 0 }
	  $r->requests(kind => 'management_api', path => "/v1/projects/$ref");
	return scalar @calls;
}

# ===========================================================================
# 1. Inventory
my $seq0 = nreq();
check('main');
is(statuses(), 'few:success gone:success hello:success report:success',
	'inventory: the four listed functions are in job_status as edge_function, success');
is(edge('hello')->{function_version}, 3, 'inventory: the version is shown (hello v3)');
is(edge('report')->{function_version}, 7, 'inventory: report v7');
is(edge('report')->{requests} . '/' . edge('report')->{server_errors}, '100/2',
	'inventory: traffic read (report: 100 requests, 2 server errors)');
is(sql(q{SELECT type FROM supamon.job_status WHERE project = 'main' AND name = 'nightly'}), 'pg_cron',
	'the pg_cron job sits beside them as pg_cron');
my @first = grep { $_->{kind} eq 'management_api' } after($seq0);
is(scalar(@first), 5, 'the API was asked 5 times: the list and the 4 functions\' traffic (the project\'s status only when its database does not answer)');
ok(@first && !grep({ !$_->{auth_ok} || $_->{status} != 200 } @first), 'with the token, all answered 200');
is(project('main')->{edge_functions}, 4, 'project_status counts 4 Edge Functions');
ok(!defined project('main')->{supabase_status}, 'a project whose database answers is not asked for its status');
ok(!defined project('main')->{edge_error}, 'no edge_error');

# What the user sets survives discovery, while what the API says is updated.
sql(q{UPDATE supamon.job_inventory SET criticality = 'critical', description = 'greets users'
	WHERE project_name = 'main' AND job_type = 'edge_function' AND job_name = 'hello'});
$fn{hello}{version} = 4;
push_main();
check('main');
is(sql(q{SELECT criticality || '|' || coalesce(description, '') || '|' || function_version
	FROM supamon.job_inventory WHERE project_name = 'main' AND job_name = 'hello'}),
	'critical|greets users|4', 'user-set criticality and description survive a check that updates the version');

# A function that disappears: removed, row kept, told once.
@listed = qw(hello report few);
push_main();
check('main');
my $gone = edge('gone');
is($gone->{status}, 'removed', 'a function no longer listed is removed');
like($gone->{reason} // '', qr/no longer listed/, 'removed: the reason says so');
is(sql(q{SELECT count(*) FROM supamon.job_inventory WHERE project_name = 'main' AND job_name = 'gone'}), 1,
	'removed: its row is kept');
is(alerts('main', 'gone', 'removed'), 1, 'removed: one alert queued');
is(project('main')->{edge_functions}, 3, 'project_status counts 3 live Edge Functions');
check('main');
is(alerts('main', 'gone', 'removed'), 1, 'removed: not alerted again at the next check');
is(edge('gone')->{status}, 'removed', 'still removed');

# It comes back.
@listed = qw(hello report few gone);
push_main();
check('main');
is(edge('gone')->{status}, 'success', 'a function listed again is live again');
is(sql(q{SELECT removed_at IS NULL FROM supamon.job_inventory WHERE project_name = 'main' AND job_name = 'gone'}),
	't', 'its removed_at is cleared');
is(project('main')->{edge_functions}, 4, 'project_status counts 4 again');

# ===========================================================================
# 2. A status change is alerted once, and its recovery.
$fn{hello}{status} = 'THROTTLED';
push_main();
check('main');
my $hello = edge('hello');
is($hello->{status}, 'failed', 'ACTIVE -> THROTTLED: failed');
like($hello->{reason} // '', qr/THROTTLED/, "the reason names THROTTLED: $hello->{reason}");
is(alerts('main', 'hello', 'failed'), 1, 'one failed alert queued');
is(sql(q{SELECT criticality FROM supamon.alert_outbox WHERE job_name = 'hello' AND event = 'failed'}),
	'critical', 'the alert carries the criticality the user set');
like(sql(q{SELECT message FROM supamon.alerts WHERE job = 'hello' AND event = 'failed'}),
	qr{main/hello \(Edge Function\) failed: .*THROTTLED}, 'supamon.alerts: the message says which function and why');
check('main');
is(alerts('main', 'hello', 'failed') + alerts('main', 'hello', 'reminder'), 1,
	'still THROTTLED at the next check: no second alert (repeat_interval 1h)');
is(edge('hello')->{status}, 'failed', 'still failed');
$fn{hello}{status} = 'ACTIVE';
push_main();
check('main');
is(edge('hello')->{status}, 'success', 'ACTIVE again: success');
is(alerts('main', 'hello', 'recovered'), 1, 'one recovered alert');

# ===========================================================================
# 3. The error rate.
like(edge('few')->{reason} // '', qr/too few requests/,
	'5 server errors of 6 requests (under edge_min_requests = 10): judged too few');
is(edge('few')->{status}, 'success', '5 of 6: not failed');
is(alerts('main', 'few', 'failed'), 0, '5 of 6: no alert');
$stats{report} = { requests => 100, server_errors => 40, client_errors => 5 };
push_main();
check('main');
my $report = edge('report');
is($report->{status}, 'failed', '40 server errors of 100 requests: failed');
like($report->{reason} // '', qr/40 of its 100 requests .*server error \(40%, above 20%\)/,
	"the reason gives the figures: $report->{reason}");
is("$report->{requests}/$report->{server_errors}", '100/40', 'job_status shows 100 requests, 40 server errors');
is(alerts('main', 'report', 'failed'), 1, 'one failed alert');
check('main');
is(alerts('main', 'report', 'failed') + alerts('main', 'report', 'reminder'), 1, 'not again at the next check');
$stats{report} = { requests => 100, server_errors => 2, client_errors => 5 };
push_main();
check('main');
is(edge('report')->{status}, 'success', '2 of 100: success');
like(edge('report')->{reason} // '', qr/100 request\(s\).*2 answered with a server error/,
	'the reason gives the new figures');
is(alerts('main', 'report', 'recovered'), 1, 'the rate fell: one recovered alert');

# ===========================================================================
# 4. A paused project, and one merely unreachable.
$r->api_patch({ projects => {
	sleepref => { status => 'INACTIVE', functions => [] },
	downref => { status => 'ACTIVE_HEALTHY', functions => [] } } });
sql(q{
SELECT supamon_add_project('sleepy', 'host=127.0.0.1 port=1 dbname=postgres', 'sleepref');
SELECT supamon_add_project('down', 'host=127.0.0.1 port=1 dbname=postgres', 'downref');
});
check('sleepy');
check('down');
my $sleepy = project('sleepy');
is($sleepy->{reachable} ? 'reachable' : 'unreachable', 'unreachable', 'sleepy: its database does not answer');
is($sleepy->{status}, 'paused', 'dead database + API status INACTIVE: project_status says paused');
is($sleepy->{supabase_status}, 'INACTIVE', 'and supabase_status INACTIVE');
is(alerts('sleepy', undef, 'paused'), 1, 'one paused alert');
my $paused_msg = sql(q{SELECT message FROM supamon.alerts WHERE project = 'sleepy' AND event = 'paused'});
like($paused_msg, qr/paused by Supabase.*INACTIVE/, "its message says paused by Supabase: $paused_msg");
is(alerts('sleepy', undef, 'unreachable'), 0, 'not alerted as a mere unreachable');
my $down = project('down');
is($down->{status}, 'unreachable', 'dead database + API status ACTIVE_HEALTHY: unreachable');
is($down->{supabase_status}, 'ACTIVE_HEALTHY', 'supabase_status ACTIVE_HEALTHY');
my $down_msg = sql(q{SELECT message FROM supamon.alerts WHERE project = 'down' AND event = 'unreachable'});
ok($down_msg =~ /unreachable/ && $down_msg !~ /paused/, "unreachable alert, not paused: $down_msg");
# Supabase pauses it: the same dead database is now named paused.
$r->api_patch({ projects => { downref => { status => 'INACTIVE', functions => [] } } });
check('down');
is(project('down')->{status}, 'paused', 'the API now says INACTIVE: down is paused');
is(alerts('down', undef, 'paused'), 1, 'and alerted as paused');
sql(q{UPDATE supamon.project SET enabled = false WHERE name IN ('sleepy', 'down')});

# ===========================================================================
# 5. API failures never break the pg_cron side, never show the token.

# 5a. A wrong token: 401, told once; the right one again: recovered.  The
# fake API's 401 quotes the token it was given, as a careless server might.
# The wrong token is SET in the checking session: changing it in
# postgresql.conf and reloading would make the postmaster itself log
# 'parameter "supamon.supabase_access_token" changed to "<token>"'.
# Meanwhile the API, could it be read, would say hello is THROTTLED and gone
# is gone: the functions keep their last status only if it is not read.
my $kept = 'few:success gone:success hello:success report:success';
$fn{hello}{status} = 'THROTTLED';
@listed = qw(hello report few);
push_main();
my $n0 = nreq();
$r->control('/v1/projects/mainref', [ map { { status => 401, message => "Invalid JWT: $wrong" } } 1 .. 2 ]);
check('main', "SET supamon.supabase_access_token = '$wrong';");
my @refused = grep { $_->{kind} eq 'management_api' } after($n0);
ok(@refused && !grep({ $_->{auth_ok} || $_->{status} != 401 } @refused),
	'the wrong token was sent and refused with 401 (' . scalar(@refused) . ' calls)');
my $e401 = project('main')->{edge_error} // '';
like($e401, qr/refused the access token \(HTTP 401/, "edge_error names the refusal: $e401");
is(alerts('main', undef, 'api_refused'), 1, 'one api_refused alert');
check('main', "SET supamon.supabase_access_token = '$wrong';");
like(project('main')->{edge_error} // '', qr/refused the access token \(HTTP 401/, 'second check: still refused');
is(alerts('main', undef, 'api_refused'), 1, 'still exactly one api_refused alert across two checks');
is(statuses(), $kept, 'functions keep their last status meanwhile');
$fn{hello}{status} = 'ACTIVE';
@listed = qw(hello report few gone);
push_main();
$r->reset;
check('main');
ok(!defined project('main')->{edge_error}, 'the right token again: edge_error cleared');
is(sql(q{SELECT count(*) FROM supamon.alert_outbox WHERE project_name = 'main' AND job_name IS NULL
	AND event = 'recovered' AND message LIKE '%can be read again%'}), 1, 'one recovered alert for the API');

is(statuses(), $kept, 'and the functions, read again, are all well');

# From here until 5d the API, could it be read, would again say hello is
# THROTTLED and gone is gone.
$fn{hello}{status} = 'THROTTLED';
@listed = qw(hello report few);
push_main();

# 5b. 429 with Retry-After 60: said, honoured (no request at all next time).
my $run = 0;
sub cron_failure
{
	my ($what) = @_;
	$run++;
	sql(qq{SELECT run('nightly', 'failed', 'ERROR:  run $run during $what')});
	return qr/run $run during \Q$what\E/;
}
$r->control('mainref/functions', [ { status => 429, retry_after => 60 } ]);
my $cron_re = cron_failure('429');
check('main');
my $p = project('main');
like($p->{edge_error} // '', qr/429 \(too many requests\)/, "429: edge_error says rate limited: $p->{edge_error}");
is(sql(q{SELECT api_blocked_until BETWEEN now() + interval '50 s' AND now() + interval '70 s'
	FROM supamon.project WHERE name = 'main'}), 't', 'api_blocked_until set about 60 s ahead');
is(statuses(), $kept, '429: functions keep their last status');
like(cron_job('nightly')->{last_error} // '', $cron_re, '429: the pg_cron run is still collected');
is(cron_job('nightly')->{status}, 'failed', '429: and judged');
my $before = api_calls('mainref');
sql(q{SELECT run('nightly', 'succeeded', '1 row')});
check('main');
is(api_calls('mainref') - $before, 0, 'the next check asks the blocked project\'s API nothing at all');
like(project('main')->{edge_error} // '', qr/not asked before/, 'edge_error says it is waiting');
is(cron_job('nightly')->{status}, 'success', 'while the pg_cron side is still checked (nightly succeeded again)');
is(statuses(), $kept, 'functions still keep their status');
sql(q{UPDATE supamon.project SET api_blocked_until = NULL WHERE name = 'main'});

# 5c. 500, a hang past http_timeout (3 s), garbage, 10 MB.
for my $case (
	[ '500', { status => 500 }, qr/listing its Edge Functions failed: HTTP 500/ ],
	[ 'hang', { hang => 30 }, qr/no answer|timed out|before the Management API answered/i ],
	[ 'garbage', { garbage => JSON::PP::true }, qr/not the JSON supamon expects/ ],
	[ '10 MB', { big => 10 * 1024 * 1024 }, qr/larger than \d+ kB/ ])
{
	my ($name, $behaviour, $error_re) = @$case;
	$r->control('mainref/functions', [$behaviour]);
	my $re = cron_failure($name);
	my $n = api_calls('mainref', 'mainref/functions');
	my $took = check('main');
	ok($took < 15, sprintf('%s: the check finishes (%.1f s)', $name, $took));
	ok($took >= 2.8, sprintf('hang: the check waited out http_timeout, 3 s (%.1f s)', $took)) if $name eq 'hang';
	is(api_calls('mainref', 'mainref/functions') - $n, 1, "$name: the list was asked once");
	my $err = project('main')->{edge_error} // '';
	like($err, $error_re, "$name: edge_error has the reason: $err");
	is(statuses(), $kept, "$name: functions keep their last status");
	like(cron_job('nightly')->{last_error} // '', $re, "$name: the pg_cron run of the same project is collected");
	is(cron_job('nightly')->{status}, 'failed', "$name: and judged");
}
sql(q{SELECT run('nightly', 'succeeded', '1 row')});

# 5d. Garbage from the stats endpoint only: the last figures stay.
$fn{hello}{status} = 'ACTIVE';
@listed = qw(hello report few gone);
$stats{report} = { requests => 100, server_errors => 2, client_errors => 0 };
push_main();
$r->reset;
check('main');
is(edge('report')->{requests} . '/' . edge('report')->{server_errors}, '100/2', 'report read: 100/2');
$stats{report} = { requests => 300, server_errors => 200, client_errors => 0 };
push_main();
$r->control('functions.combined-stats', [ { garbage => JSON::PP::true } ], 1);
my $ns = api_calls('mainref', 'functions.combined-stats');
check('main');
ok(api_calls('mainref', 'functions.combined-stats') - $ns >= 3, 'the stats were asked (and got garbage)');
is(edge('report')->{requests} . '/' . edge('report')->{server_errors}, '100/2',
	'stats garbage: report keeps its previous figures (not 300/200)');
is(edge('report')->{status}, 'success', 'and its status');
my $traffic = project('main')->{edge_error} // '';
like($traffic, qr/traffic of \d+ Edge Function\(s\) could not be read/, "edge_error says so: $traffic");
$r->reset;
check('main');
is(edge('report')->{status}, 'failed', 'stats readable again: 200 of 300 is failed (the figures were really stale)');

# ===========================================================================
# 6. Several projects at once: one hangs, two answer slowly.
$r->api_patch({ projects => {
	hangref => { functions => [ { slug => 'h1' } ] },
	slowaref => { functions => [ { slug => 'a1' } ] },
	slowbref => { functions => [ { slug => 'b1' } ] } } });
sql(q{
SELECT supamon_add_project('alpha', NULL, 'hangref');
SELECT supamon_add_project('beta', NULL, 'slowaref');
SELECT supamon_add_project('gamma', NULL, 'slowbref');
});
$r->control('hangref/functions', [ { hang => 30 } ]);
$r->control('slowaref/functions', [ { delay => 1.5 } ]);
$r->control('slowbref/functions', [ { delay => 1.5 } ]);
my $n6 = nreq();
my $took = check();
ok($took >= 2.8 && $took < 4.5,
	sprintf('4 projects, one hanging (3 s timeout), two answering in 1.5 s: %.1f s, not the 6 s of their sum', $took));
my @lists = grep { $_->{kind} eq 'management_api' && $_->{path} =~ m{/functions$} }
  after($n6);
my @t = sort { $a <=> $b } map { $_->{t} } grep { $_->{path} =~ /hangref|slowaref|slowbref/ } @lists;
ok(@t == 3 && $t[2] - $t[0] < 1.0, sprintf('the three lists were asked at once (%.2f s apart)', @t ? $t[-1] - $t[0] : -1));
is(edge('a1', 'beta')->{status} . ' ' . edge('b1', 'gamma')->{status}, 'success success',
	'the slow projects\' functions are read');
ok(!defined project('beta')->{edge_error} && !defined project('gamma')->{edge_error}, 'with no edge_error');
like(project('alpha')->{edge_error} // '', qr/no answer|timed out|before the Management API answered/i,
	'the hanging one has the reason');
is(edge('report')->{status}, 'failed', 'main is decided in the same check');

# ===========================================================================
# The tokens, anywhere a user or an operator could read (once the worker
# has delivered what was queued).
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM supamon.alert_outbox WHERE state IN ('pending', 'sending')"),
	'every alert queued has been delivered');
my $seen = join("\n", map { sql("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM $_ t") }
	qw(supamon.project_status supamon.job_status supamon.alerts supamon.alert_outbox
	  supamon.job_health_log supamon.project));
ok(length($seen) > 1000, 'the views were read (' . length($seen) . ' characters)');
like($seen, qr/refused the access token \(HTTP 401: Invalid JWT/,
	'the API\'s 401 message (which quoted the token) is in there, scrubbed');
for my $secret ([ 'right token', $token ], [ 'wrong token', $wrong ])
{
	my ($what, $s) = @$secret;
	is(index($seen, $s), -1, "the $what is in no view or table (project_status, job_status, alerts, outbox...)");
	is(index(slurp_file($node->logfile), $s), -1, "the $what is not in the server log");
	is(scalar(grep { index($_->{body} // '', $s) >= 0 } $r->requests(kind => 'webhook')), 0,
		"the $what is in no alert delivered");
}
ok(nreq(kind => 'webhook') >= 10, 'alerts were delivered to the webhook (' . nreq(kind => 'webhook') . ')');

# A project's default criticality, by pattern, applies to the functions
# discovered after it was set; a function's own setting is not overwritten.
$r->api_patch({ projects => { ruledref => { functions => [ { slug => 'billing-sync' }, { slug => 'hello' } ] } } });
sql(q{SELECT supamon_add_project('ruled', NULL, 'ruledref');
SELECT supamon_set_default_criticality('ruled', 'low');
SELECT supamon_set_default_criticality('ruled', 'critical', 'billing%');});
check('ruled');
is(sql(q{SELECT string_agg(name || '=' || criticality, ',' ORDER BY name) FROM supamon.job_status WHERE project = 'ruled'}),
	'billing-sync=critical,hello=low,nightly=low',
	'functions (and the pg_cron job) discovered later take the project\'s default, the longest pattern first');
sql(q{SELECT supamon_set_job('ruled', 'hello', criticality => 'important');
SELECT supamon_set_default_criticality('ruled', 'critical');});
check('ruled');
is(sql(q{SELECT criticality FROM supamon.job_status WHERE project = 'ruled' AND name = 'hello'}), 'important',
	'rediscovery keeps what supamon_set_job set');

$r->stop;
$node->stop;
done_testing();
