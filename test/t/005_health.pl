# Health end to end: a real pg_cron job that fails is reported failed, and
# recovered once fixed, with the outbox rows to match; a project whose
# scheduler is not running is one problem, not one per job; two checks at
# once queue nothing twice; a restart neither repeats nor forgets an alert.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
});
$central->start;

my $proj = PostgreSQL::Test::Cluster->new('proj');
$proj->init;
$proj->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $proj->host . qq{'
});
$proj->start;
my $t_start = time;
$proj->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
SELECT cron.schedule('flaky', '* * * * *', 'SELECT 1/0');
SELECT cron.schedule('steady', '* * * * *', 'SELECT 1');
});

# A project whose cron tables are readable but whose scheduler is not
# running (no pg_cron at all in that cluster).
my $idle = PostgreSQL::Test::Cluster->new('idle');
$idle->init;
$idle->start;
$idle->safe_psql('postgres', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('*/5 * * * *', 'SELECT 1', 'idle-a'), ('*/5 * * * *', 'SELECT 1', 'idle-b');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT j, 'succeeded', '1 row', now() - interval '1 hour', now() - interval '1 hour' FROM generate_series(1, 2) j;
});

$central->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
SELECT supamon_add_project('proj', '@{[project_connstr($proj)]}');
SELECT supamon_add_project('idle', '@{[project_connstr($idle)]}');
INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook');
});

sub check
{
	my ($only) = @_;
	my $arg = defined $only ? "'$only'" : '';
	return $central->safe_psql('postgres', "SELECT supamon_check_health($arg)");
}
sub outbox
{
	my ($where) = @_;
	return $central->safe_psql('postgres',
		"SELECT string_agg(coalesce(job_name, '-') || ':' || event, ',' ORDER BY id) FROM supamon.alert_outbox WHERE $where");
}

# --- two checks at once, on the first check of "idle" (which queues its
# "scheduler down" alert): the second waits for the first and queues nothing
$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = (name = 'idle')");
{
	my $first = $central->background_psql('postgres');
	$first->query_safe('BEGIN');
	my $summary1 = $first->query_safe('SELECT supamon_check_health()');
	like($summary1, qr/"alerts_queued": 1/, 'the first check queues the project alert');
	my ($out, $err) = ('', '');
	my $second = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $central->connstr('postgres'), '-c', 'SELECT supamon_check_health()' ],
		'>', \$out, '2>', \$err);
	ok($central->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%supamon_check_health%'"),
		'a second check waits for the first');
	$first->query_safe('COMMIT');
	$first->quit;
	$second->finish;
	like($out, qr/"alerts_queued": 0/, 'then finds nothing left to queue');
}
$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = true");

# --- scheduler down: one project alert, no job alert, jobs still decided
is($central->safe_psql('postgres', "SELECT status FROM supamon.project_status WHERE project = 'idle'"),
	'scheduler_down', 'readable cron tables, no scheduler: scheduler down');
is($central->safe_psql('postgres', "SELECT string_agg(status, ',' ORDER BY name) FROM supamon.job_status WHERE project = 'idle'"),
	'missed,missed', 'its jobs are still decided from their runs');
is(outbox("project_name = 'idle'"), '-:scheduler_down', 'one project alert, once, not one per job');

# --- a real failing job, reported failed once its run is in
ok($proj->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'flaky' AND d.status = 'failed'"),
	'pg_cron ran the failing job');
my $summary = check('proj');
like($summary, qr/"failed": 1/, 'the check counts it failed');
is($central->safe_psql('postgres', "SELECT status || ' | ' || last_error FROM supamon.job_status WHERE name = 'flaky'"),
	'failed | ERROR: division by zero', 'job_status shows it failed, with its error');
cmp_ok(time - $t_start, '<', 130, sprintf('reported %.0f s after it was scheduled', time - $t_start));
is(outbox("project_name = 'proj'"), 'flaky:failed', 'one alert queued, for the failing job');

# --- a restart neither repeats nor forgets
$central->restart;
check('proj');
is(outbox("project_name = 'proj'"), 'flaky:failed', 'after a restart, the same state queues nothing new');

# --- fixed: recovered
$proj->safe_psql('postgres', "SELECT cron.schedule('flaky', '* * * * *', 'SELECT 1')");
my $fixed_at = $proj->safe_psql('postgres', 'SELECT now()');
ok($proj->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'flaky' AND d.status = 'succeeded' AND d.start_time > '$fixed_at'"),
	'pg_cron ran the fixed job');
check('proj');
is($central->safe_psql('postgres', "SELECT status FROM supamon.job_status WHERE name = 'flaky'"),
	'success', 'the job is healthy again');
is(outbox("project_name = 'proj'"), 'flaky:failed,flaky:recovered', 'and a recovered alert is queued');
is($central->safe_psql('postgres', q{
	SELECT string_agg(status, ',' ORDER BY id) FROM supamon.job_health_log
	WHERE job_name = 'flaky' AND run_id IS NULL}),
	'failed,success', 'the health log holds the two transitions');

done_testing();
