# Watching the watcher: what each check did (completed, how long, raised and
# why, also when its transaction was rolled back); the stale-check alert,
# once, and its recovery, not repeated after a restart; the heartbeat URL, one
# ping per completed check and none for one that raised, pinged by the check
# itself without a worker; the summary on its schedule; and each job's run
# strip (finished runs and missed fires, newest last, at most 20).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use Receiver;
use SupamonTest;

my $r = Receiver->start;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
});
$central->start;

# A project whose run history the test writes (no pg_cron: nothing runs by
# itself), and in another database one whose cron.job takes 10 s to read.
my $proj = PostgreSQL::Test::Cluster->new('proj');
$proj->init;
$proj->start;
$proj->safe_psql('postgres', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('* * * * *', 'SELECT 1', 'steady'), ('* * * * *', 'SELECT 1', 'gone-quiet'),
	('*/5 * * * *', 'SELECT 1', 'busy');
-- steady: the last three minutes' fires ran: ok, failed, ok
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT 1, s, 'x', date_trunc('minute', now()) - make_interval(mins => m),
	   date_trunc('minute', now()) - make_interval(mins => m) + interval '1 second'
FROM (VALUES (2, 'succeeded'), (1, 'failed'), (0, 'succeeded')) v(m, s) ORDER BY m DESC;
-- gone-quiet: ran ten minutes ago, not since
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (2, 'succeeded', 'x', date_trunc('minute', now()) - interval '10 min',
		date_trunc('minute', now()) - interval '10 min' + interval '1 second');
CREATE DATABASE slowdb;
});
$proj->safe_psql('slowdb', q{
CREATE SCHEMA cron;
CREATE FUNCTION public.slow() RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(10) IS NOT NULL';
CREATE VIEW cron.job AS SELECT 1::bigint AS jobid, '* * * * *'::text AS schedule, 'SELECT 1'::text AS command,
	'localhost'::text AS nodename, 5432 AS nodeport, 'slowdb'::text AS database, 'postgres'::text AS username,
	true AS active, 'sleepy'::name AS jobname WHERE public.slow();
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY, job_pid int, database text,
	username text, command text, status text, return_message text, start_time timestamptz, end_time timestamptz);
});

$central->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
SELECT supamon_add_project('local', '@{[project_connstr($proj)]}');
SELECT supamon_add_project('slow', '@{[project_connstr($proj, 'slowdb')]}');
UPDATE supamon.project SET enabled = false WHERE name = 'slow';
SELECT supamon_add_channel('team', 'discord', '@{[$r->url('/api/webhooks/17/watch-token')]}');
});

sub sql { return $central->safe_psql('postgres', $_[0]); }
sub state { return sql("SELECT $_[0] FROM supamon.check_status"); }
sub strip { return sql("SELECT coalesce(recent, '') FROM supamon.job_status WHERE name = '$_[0]'"); }
sub reload_with
{
	my ($settings) = @_;
	sql("ALTER SYSTEM SET $_") for @$settings;
	sql('SELECT pg_reload_conf()');
	sleep 0.5;    # the worker reads the file at its next turn
}
sub discord_texts
{
	# what the team channel received, as text, in order
	return map { $_->{body} // '' } $r->requests(kind => 'discord');
}

# --- a check that completes
is(state('checks_completed'), '0', 'no check yet');
is(state('worker_running'), 't', 'the worker runs');
sql('SELECT supamon_check_health()');
is(state('checks_completed'), '1', 'a check that completes is counted');
is(state('last_completed_at IS NOT NULL AND last_duration > interval \'0\''), 't',
	'with when it ended and how long it took');
is(sql(q{SELECT last_check_ms IS NOT NULL FROM supamon.project_status WHERE project = 'local'}),
	't', 'project_status: how long the project took');

# --- the run strip
is(strip('steady'), '✓', 'the run strip: at first contact, the newest run');
$proj->safe_psql('postgres', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', 'x', now() - interval '2 seconds', now() - interval '2 seconds'),
	   (1, 'succeeded', 'x', now() - interval '1 second', now() - interval '1 second');
-- busy: 25 runs, the newest (a failure) last
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT 3, CASE WHEN k = 25 THEN 'failed' ELSE 'succeeded' END, 'x',
	   now() - make_interval(secs => 30 - k), now() - make_interval(secs => 30 - k)
FROM generate_series(1, 25) k ORDER BY k;
});
sql('SELECT supamon_check_health()');
is(strip('steady'), '✓✗✓', 'then each finished run once, oldest first');
like(strip('gone-quiet'), qr/^✓(?:·){9,10}$/, 'missed fires are in it (one dot each): ' . strip('gone-quiet'));
my $quiet = strip('gone-quiet');
sql('SELECT supamon_check_health()');
is(strip('gone-quiet'), $quiet, 'a later check does not mark the same missed fires again');
is(strip('busy'), '✓' x 19 . '✗', 'at most 20 marks, the newest last');
$proj->safe_psql('postgres', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (2, 'failed', 'late', now(), now())});
sql('SELECT supamon_check_health()');
is(strip('gone-quiet'), $quiet . '✗', 'a later run is added after the dots');
is(strip('steady'), '✓✗✓', 'a job without new runs keeps its strip');

# --- a run not started yet counts from when it is first seen, not from the
# run before it (pg_cron 1.4 sets start_time only once a run is running)
$proj->safe_psql('postgres', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 0 1 1 *', 'SELECT 1', 'slowpoke');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time)
SELECT jobid, 'running', NULL, now() - interval '5 minutes' FROM cron.job WHERE jobname = 'slowpoke'});
sql(q{SELECT supamon_check_health('local'); SELECT supamon_set_job('local', 'slowpoke', max_runtime => '1 minute');
	SELECT supamon_check_health('local')});
is(sql(q{SELECT status FROM supamon.job_status WHERE name = 'slowpoke'}), 'stuck', 'a run for 5 minutes of 1 allowed: stuck');
$proj->safe_psql('postgres', q{
UPDATE cron.job_run_details SET status = 'succeeded', end_time = now()
WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = 'slowpoke');
INSERT INTO cron.job_run_details (jobid, status) SELECT jobid, 'starting' FROM cron.job WHERE jobname = 'slowpoke'});
sql(q{SELECT supamon_check_health('local')});
is(sql(q{SELECT status || ' ' || (running_since > now() - interval '10 seconds') FROM supamon.job_status WHERE name = 'slowpoke'}),
	'success true', 'the next run, starting, counts from now: not stuck on the earlier run\'s start');

# --- a check that raises: rolled back, yet seen
sql(q{UPDATE supamon.project SET enabled = true WHERE name = 'slow'});
my $done = state('checks_completed');
my ($rc, $out, $err) = $central->psql('postgres', q{SET statement_timeout = '1s'; SELECT supamon_check_health('slow')});
isnt($rc, 0, 'a check cut by statement_timeout raises');
is(state('checks_completed'), $done, 'it is not counted as completed');
like(state('last_raised_error'), qr/statement timeout/, 'check_status says why it raised');
is(state('last_raised_project'), 'slow', 'and which project it checked');

# caught by the caller: its work is rolled back all the same
my $raised_before = state('last_raised_at');
sql(q{SET statement_timeout = '1s';
DO $$ BEGIN PERFORM supamon_check_health('slow'); EXCEPTION WHEN query_canceled THEN NULL; END $$});
is(state('checks_completed'), $done, 'a check whose error the caller caught is not completed');
isnt(state('last_raised_at'), $raised_before, 'it is recorded as raised');
# a block that rolls back keeps the error of the check that raised in it
sql(q{DO $$ BEGIN
	BEGIN PERFORM supamon_check_health('local'); PERFORM supamon_check_health('no-such-project');
	EXCEPTION WHEN others THEN NULL; END; END $$});
like(state('last_raised_error'), qr/no-such-project/,
	'two checks in a block, the second raising: check_status has its error, not the first one\'s rollback');
sql(q{UPDATE supamon.project SET enabled = false WHERE name = 'slow'});

# --- the heartbeat: one ping per completed check, none for one that raised
# (in the file, as a secret belongs: an ALTER SYSTEM statement is logged whole)
my $ping = $r->url('/ping/hb-secret-token-123');
$central->append_conf('postgresql.conf', "supamon.heartbeat_url = '$ping'\n");
reload_with([]);
sql('SELECT supamon_check_health()') for 1 .. 3;
ok($r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' } @_) >= 3 }, 30), 'three checks, three pings');
sql(q{UPDATE supamon.project SET enabled = true WHERE name = 'slow'});
$central->psql('postgres', q{SET statement_timeout = '1s'; SELECT supamon_check_health('slow')});
sql(q{UPDATE supamon.project SET enabled = false WHERE name = 'slow'});
sleep 2;
my @pings = $r->requests(kind => 'heartbeat');
is(scalar(@pings), 3, 'a check that raised sends none');
is(state('last_heartbeat_at IS NOT NULL AND last_heartbeat_error IS NULL'), 't', 'check_status: the last ping worked');
$r->control('/ping', [ { status => 500 } ]);
like(sql('SELECT supamon_check_health()'), qr/total_jobs/, 'a ping that fails never fails the check');
ok($central->poll_query_until('postgres', q{SELECT last_heartbeat_error = 'it answered HTTP 500' FROM supamon.check_status}),
	'check_status says the ping failed');
$central->safe_psql('postgres', q{CREATE ROLE watcher LOGIN IN ROLE pg_monitor});
is($central->safe_psql('postgres', 'SET ROLE watcher; SHOW supamon.heartbeat_url'), '********',
	'the URL is a secret: others see stars');
$central->append_conf('postgresql.conf', "supamon.heartbeat_url = 'http://hc.example.com/ping/hb-other-secret-456'\n");
reload_with([]);
sql('SELECT supamon_check_health()');
ok($central->poll_query_until('postgres', q{SELECT last_heartbeat_error LIKE 'not called: plain http%' FROM supamon.check_status}),
	'plain http to another host is not called, and check_status says why');
unlike(state('last_heartbeat_error'), qr/hb-other-secret-456/, 'without quoting the URL');
$central->append_conf('postgresql.conf', "supamon.heartbeat_url = ''\n");
reload_with([]);

# --- stale checks: told once, recovered once, not repeated after a restart
sql(q{UPDATE supamon.project SET enabled = true WHERE name = 'slow'});
$central->psql('postgres', q{SET statement_timeout = '1s'; SELECT supamon_check_health('slow')});
sql(q{UPDATE supamon.project SET enabled = false WHERE name = 'slow'});
reload_with(["supamon.stale_after = '2s'"]);
my $stale = $r->wait_for(sub { grep { ($_->{body} // '') =~ /has not completed a check since/ } @_ }, 40);
ok($stale, 'no check for stale_after: every channel is told');
my ($stale_text) = grep { /has not completed a check since/ } discord_texts();
like($stale_text, qr/checks stopped/, 'as "checks stopped"');
like($stale_text, qr/The last check raised an error at .*statement timeout/, 'saying the last check raised, and why');
is(state('stale'), 't', 'check_status says so');
$central->restart;
sleep 12;    # more than the worker's look every 10 s
is(scalar(grep { /has not completed a check since/ } discord_texts()), 1, 'once: not again, not after a restart');
sql('SELECT supamon_check_health()');
ok($r->wait_for(sub { grep { ($_->{body} // '') =~ /completed a check again/ } @_ }, 30),
	'a check completes: one recovery');
is(state('stale'), 'f', 'check_status no longer stale');
reload_with(["supamon.stale_after = '5min'"]);

# --- the summary on its schedule
($rc, $out, $err) = $central->psql('postgres', q{ALTER SYSTEM SET supamon.summary_schedule = '@reboot'});
isnt($rc, 0, 'a summary schedule that never fires is refused');
($rc, $out, $err) = $central->psql('postgres', q{ALTER SYSTEM SET supamon.summary_schedule = '61 * * * *'});
like($err, qr/61/, "a bad one with pg_cron's reason: $err");
reload_with(["supamon.summary_schedule = '3 seconds'"]);
my $summary = $r->wait_for(sub { grep { ($_->{body} // '') =~ /supamon summary/ } @_ }, 40);
ok($summary, 'the summary arrives on its schedule');
my ($summary_text) = grep { /supamon summary/ } discord_texts();
like($summary_text, qr/\d+ jobs: .*healthy/, 'with the counts by status');
like($summary_text, qr/local\/gone-quiet: failed/, 'and the jobs that are not healthy');
reload_with(["supamon.summary_schedule = ''"]);
is(state('last_summary_at IS NOT NULL'), 't', 'check_status: when the last summary left');

# --- secrets: never in the log
my $log = slurp_file($central->logfile);
unlike($log, qr/hb-(secret-token-123|other-secret-456)/, 'the heartbeat URL never reaches the server log');

# --- without a worker, the check pings itself
my $lone = PostgreSQL::Test::Cluster->new('lone');
$lone->init;
$lone->append_conf('postgresql.conf', "supamon.heartbeat_url = '" . $r->url('/ping/lone') . "'\n");
$lone->start;
$lone->safe_psql('postgres', q{CREATE EXTENSION supamon; SELECT supamon_add_project('self')});
$lone->safe_psql('postgres', 'SELECT supamon_check_health()');
# pinged by a short-lived process the commit started: waited for
$r->wait_for(sub { grep { $_->{kind} eq 'heartbeat' && $_->{path} eq '/ping/lone' } @_ }, 10);
sleep 1;    # and no second one
my @lone = $r->requests(kind => 'heartbeat', path => '/ping/lone');
is(scalar(@lone), 1,
	'not preloaded: the check pinged the URL itself');
is($lone->safe_psql('postgres', 'SELECT worker_running FROM supamon.check_status'), 'f',
	'and check_status says no worker runs');

done_testing();
