# supamon_schedule() and supamon_unschedule(): one pg_cron job that runs the
# check, changed in place by a second call, removed; a bad schedule and a
# database without pg_cron refused with a clear error; and the scheduled
# check really runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,supamon'
cron.database_name = 'postgres'
cron.host = '} . $node->host . qq{'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION supamon;
SELECT supamon_add_project('self');
});

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub jobs
{
	return sql(q{SELECT coalesce(string_agg(jobid || ' ' || jobname || ' ' || schedule || ' ' || command, E'\n'
		ORDER BY jobid), '') FROM cron.job});
}

my $id = sql('SELECT supamon_schedule()');
like($id, qr/^\d+$/, 'supamon_schedule() returns the pg_cron job id');
is(jobs(), "$id supamon-check * * * * * SELECT public.supamon_check_health()",
	'one pg_cron job runs the check every minute');
is(sql(q{SELECT supamon_schedule('*/5 * * * *')}), $id, 'a second call returns the same job');
is(jobs(), "$id supamon-check */5 * * * * SELECT public.supamon_check_health()",
	'and changes its schedule in place: still one job');

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT supamon_schedule('61 * * * *')});
isnt($rc, 0, 'a schedule pg_cron would refuse is refused');
like($err, qr/61/, "with the reason: $err");
is(jobs(), "$id supamon-check */5 * * * * SELECT public.supamon_check_health()", 'and the job is unchanged');

is(sql('SELECT supamon_unschedule()'), 't', 'supamon_unschedule() removes it');
is(jobs(), '', 'no job left');
is(sql('SELECT supamon_unschedule()'), 'f', 'a second call finds nothing to remove');

# A database where pg_cron does not live: the error says what to run where.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION supamon');
($rc, $out, $err) = $node->psql('other', 'SELECT supamon_schedule()');
isnt($rc, 0, 'in a database without pg_cron, supamon_schedule() fails');
like($err, qr/pg_cron lives in database "postgres", not in "other"/, 'saying where pg_cron lives');
like($err, qr/HINT:.*In database postgres run: SELECT cron\.schedule_in_database\('supamon-check', '\* \* \* \* \*', 'SELECT public\.supamon_check_health\(\)', 'other'\);/,
	'and what to run there');
is(jobs(), '', 'nothing was scheduled');

# The scheduled check really runs (the next minute).
my $before = sql(q{SELECT coalesce(max(last_check_at)::text, 'never') FROM supamon.project});
sql('SELECT supamon_schedule()');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM cron.job_run_details WHERE command LIKE '%supamon_check_health%' AND status = 'succeeded'}),
	'pg_cron ran the check');
isnt(sql(q{SELECT coalesce(max(last_check_at)::text, 'never') FROM supamon.project}), $before,
	'and it checked the project');

done_testing();
