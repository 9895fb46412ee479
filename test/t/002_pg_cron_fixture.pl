# A cluster running real pg_cron next to supamon: real jobs run, and their
# runs appear in cron.job_run_details.  This is the kind of project the
# collector reads.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('project');
$node->init;
# pg_cron runs jobs over libpq: point it at this cluster's socket.
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,supamon'
cron.database_name = 'postgres'
cron.host = '} . $node->host . qq{'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION supamon');
$node->safe_psql('postgres', q{
SELECT cron.schedule('fixture-ok', '* * * * *', 'SELECT 1');
SELECT cron.schedule('fixture-fails', '* * * * *', 'SELECT 1/0');
});

ok($node->poll_query_until('postgres', q{
	SELECT count(DISTINCT j.jobname) = 2
	FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE d.status IN ('succeeded', 'failed')}, 't'),
	'both jobs ran within a minute or two');
is($node->safe_psql('postgres', q{
	SELECT string_agg(j.jobname || ':' || d.status, ',' ORDER BY j.jobname)
	FROM (SELECT DISTINCT ON (jobid) * FROM cron.job_run_details
		  WHERE status IN ('succeeded', 'failed') ORDER BY jobid, runid) d
	JOIN cron.job j USING (jobid)}),
	'fixture-fails:failed,fixture-ok:succeeded', 'each run has the status its command earned');
like($node->safe_psql('postgres', q{
	SELECT return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'fixture-fails' AND d.status = 'failed' LIMIT 1}),
	qr/division by zero/, 'the failure keeps its error text');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'supamon worker'"),
	'1', 'supamon worker runs beside pg_cron');

$node->stop;
done_testing();
