# Attacks on recording projects inside the collection loop (8783014), the
# Management API's side: the Edge Function requests run in the same loop
# (curl, with supamon.http_timeout counted on the wall clock), so a
# recording that waits must not make them time out.  Before 8783014 the API
# was read with the databases, then everything was recorded.
#
# Clusters: "fleet" (pa: a job with a new run whose recording waits for a
# user's open transaction on its row; pe: a job, and Edge Functions behind
# the fake Management API of test/receiver.py, ref eref) and "central"
# (supamon not preloaded).  The API answers eref's function list after 1 s,
# while pa's recording waits ~5 s; supamon.http_timeout is 3 s.
#
# Status: passes at 3af3522; failed at 8783014 and c558bdf ("listing its
# Edge Functions failed: no answer: Operation timed out after 5459
# milliseconds with 0 bytes received"); passes since recording waits for
# the end of the collection again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $r = Receiver->start;
my $token = 'sbp_streamedge_9c1d7e5b3a2f4c6e8d01';

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$fleet->start;
for my $db (qw(pa pe))
{
	$fleet->safe_psql('postgres', "CREATE DATABASE $db");
	$fleet->safe_psql($db, cron_tables_sql() . qq{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', '${db}_job');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '2 minutes', now() - interval '119 seconds');
});
}

$r->api_state({ token => $token, projects => { eref => {
	status => 'ACTIVE_HEALTHY',
	functions => [ { slug => 'hello', version => 3 }, { slug => 'report', version => 7 } ],
	stats => { hello => { requests => 50, server_errors => 0, client_errors => 1 },
		report => { requests => 100, server_errors => 1, client_errors => 0 } } } } });

my $c = PostgreSQL::Test::Cluster->new('central');
$c->init;
$c->append_conf('postgresql.conf', qq{
log_statement = none
supamon.supabase_access_token = '$token'
supamon.management_api_url = '@{[$r->api_url]}'
supamon.http_timeout = 3000
supamon.connect_timeout = 2000
supamon.query_timeout = 3000
});
$c->start;
$c->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook');
SELECT supamon_add_project('pa', '@{[project_connstr($fleet, 'pa')]}');
SELECT supamon_add_project('pe', '@{[project_connstr($fleet, 'pe')]}', 'eref');
});

sub sql { return $c->safe_psql('postgres', $_[0]); }

sub edge_state
{
	return sql(q{SELECT coalesce(string_agg(name || ':' || status, ' ' ORDER BY name), '') FROM supamon.job_status
		WHERE project = 'pe' AND type = 'edge_function'})
	  . ' | ' . sql(q{SELECT coalesce(edge_error, '') FROM supamon.project_status WHERE project = 'pe'});
}

my $lock_wait_sql = q{
SELECT count(*) = 1 FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%supamon_check_health%' AND pid <> pg_backend_pid()};

sql('SELECT supamon_check_health()');
is(edge_state(), 'hello:success report:success | ', 'baseline: both functions read, no edge error');

# the attack
$fleet->safe_psql('pa', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '5 seconds', now() - interval '4 seconds')});
$r->control('eref/functions', [ { delay => 1 } ]);
my $user = $c->background_psql('postgres');
$user->query_safe('BEGIN');
$user->query_safe("SELECT supamon_set_job('pa', 'pa_job', criticality => 'critical')");
my $t0 = time;
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $c->connstr('postgres'), '-c', 'SELECT supamon_check_health()' ],
	'>', \$out, '2>', \$err);
sleep 0.1 while time - $t0 < 5.5;
ok($c->safe_psql('postgres', $lock_wait_sql) eq 't', "pa's recording waits for the user's transaction");
$user->query_safe('COMMIT');
$user->quit;
$h->finish;
note "check: $out $err";
is($err, '', 'the check ends without an error');
is(edge_state(), 'hello:success report:success | ',
	'the API answered within supamon.http_timeout: both functions still read, no edge error');
is(sql(q{SELECT coalesce(string_agg(event || ': ' || message, '; '), '') FROM supamon.alert_outbox
	WHERE project_name = 'pe' AND event <> 'scheduler_down'}), '', 'nothing queued for pe');
my @list = grep { $_->{path} =~ m{/v1/projects/eref/functions} } $r->requests(kind => 'management_api');
cmp_ok(scalar(@list), '>=', 2, 'the API was asked for the list at both checks');

$r->stop;
done_testing();
