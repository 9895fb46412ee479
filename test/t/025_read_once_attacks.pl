# Attacks on the one read of a project's pg_cron rows: the recording reads
# them, and the check decides from that read unless pg_net's recording
# wrote them since.  Before, the check read them again with a statement of
# its own, after pg_net's and the Management API's recording: in READ
# COMMITTED that statement saw what other sessions committed meanwhile,
# including while the recording waited for their locks.
#
# The attack (from an outside review): a job and an Edge Function of one
# name ("hello") in one project.  supamon_ack() locks every row of that
# name (both types) FOR UPDATE; the check's recording of the Edge Functions
# (an upsert of the function's row) waits for the user's transaction, which
# acknowledges the failing job and commits.  The check then decides the
# job: acknowledged, so no reminder (supamon.repeat_interval has passed).
# It failed ("reminder" queued for an acknowledged job) while the Management
# API's part was recorded after the pg_cron rows were read; it is recorded
# before them now.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $r = Receiver->start;
my $token = 'sbp_readonce_4b7e2c9d1a3f5e6c8b02';

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$fleet->start;
$fleet->safe_psql('postgres', 'CREATE DATABASE pe');
$fleet->safe_psql('pe', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1/0', 'hello');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', 'division by zero', now() - interval '2 minutes', now() - interval '119 seconds');
-- a role that cannot see the cluster's other backends: no pg_cron
-- scheduler runs here, and one seen down would fold the job's alerts into
-- the project's
CREATE ROLE watcher LOGIN;
GRANT USAGE ON SCHEMA cron TO watcher;
GRANT SELECT ON ALL TABLES IN SCHEMA cron TO watcher;
});

$r->api_state({ token => $token, projects => { eref => {
	status => 'ACTIVE_HEALTHY',
	functions => [ { slug => 'hello', version => 3 } ],
	stats => { hello => { requests => 50, server_errors => 0, client_errors => 1 } } } } });

my $c = PostgreSQL::Test::Cluster->new('central');
$c->init;
$c->append_conf('postgresql.conf', qq{
log_statement = none
supamon.supabase_access_token = '$token'
supamon.management_api_url = '@{[$r->api_url]}'
supamon.http_timeout = 3000
supamon.connect_timeout = 2000
supamon.query_timeout = 3000
supamon.repeat_interval = 2
});
$c->start;
$c->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook');
SELECT supamon_add_project('pe', '@{[project_connstr($fleet, 'pe', 'watcher')]}', 'eref');
});

sub sql { return $c->safe_psql('postgres', $_[0]); }

sub events
{
	return sql(q{SELECT coalesce(string_agg(event, ' ' ORDER BY id), '') FROM supamon.alert_outbox
		WHERE project_name = 'pe' AND job_type = 'pg_cron' AND job_name = 'hello'});
}

my $lock_wait_sql = q{
SELECT count(*) = 1 FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%supamon_check_health%' AND pid <> pg_backend_pid()};

sql('SELECT supamon_check_health()');
is(sql(q{SELECT string_agg(type || ':' || status, ' ' ORDER BY type) FROM supamon.job_status
	WHERE project = 'pe' AND name = 'hello'}), 'edge_function:success pg_cron:failed',
	'baseline: the job failed, the function of its name is fine');
is(events(), 'failed', 'the failure is told');

# the repeat interval passes: a check now would remind, unless acknowledged
sleep 2.5;

my $user = $c->background_psql('postgres');
$user->query_safe('BEGIN');
$user->query_safe(q{SELECT supamon_ack('pe', 'hello', 'on it')});
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $c->connstr('postgres'), '-c', 'SELECT supamon_check_health()' ],
	'>', \$out, '2>', \$err);
my $t0 = time;
my $waiting = 0;
while (time - $t0 < 30)
{
	if ($c->safe_psql('postgres', $lock_wait_sql) eq 't')
	{
		$waiting = 1;
		last;
	}
	sleep 0.1;
}
ok($waiting, "the check's recording waits for the user's transaction");
$user->query_safe('COMMIT');
$user->quit;
$h->finish;
note "check: $out $err";
is($err, '', 'the check ends without an error');
ok(sql(q{SELECT acked_at IS NOT NULL FROM supamon.job_inventory
	WHERE project_name = 'pe' AND job_type = 'pg_cron' AND job_name = 'hello'}) eq 't',
	'the acknowledgement stands');
is(events(), 'failed',
	'acknowledged (committed before the check decided the job): no reminder');

$r->stop;
done_testing();
