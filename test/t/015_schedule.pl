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

# A database where pg_cron does not live: a short-lived worker schedules it
# in pg_cron's, named for that database, to run there.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', q{CREATE EXTENSION supamon; SELECT supamon_add_project('other-self')});
my $oid = $node->safe_psql('other', q{SELECT supamon_schedule('*/5 * * * *')});
like($oid, qr/^\d+$/, "from another database, supamon_schedule() returns pg_cron's job id");
is(jobs(), "$oid supamon-check\@other */5 * * * * SELECT public.supamon_check_health()",
	'one job in pg_cron, named for that database');
is(sql("SELECT database FROM cron.job WHERE jobid = $oid"), 'other', 'and run in that database');
is($node->safe_psql('other', 'SELECT supamon_schedule()'), $oid, 'a second call returns the same job');
is(jobs(), "$oid supamon-check\@other * * * * * SELECT public.supamon_check_health()",
	'changed in place');
($rc, $out, $err) = $node->psql('other', q{SELECT supamon_schedule('61 * * * *')});
like($err, qr/61/, 'a bad schedule is refused there too, with the reason');

# The scheduled checks really run (the next minute), here and there.
my $before = sql(q{SELECT coalesce(max(last_check_at)::text, 'never') FROM supamon.project});
sql('SELECT supamon_schedule()');
is(sql(q{SELECT count(*) FROM cron.job}), '2', "two jobs: this database's and the other's");
ok($node->poll_query_until('postgres', q{
	SELECT count(DISTINCT database) = 2 FROM cron.job_run_details WHERE command LIKE '%supamon_check_health%' AND status = 'succeeded'}),
	'pg_cron ran the check in both databases');
isnt(sql(q{SELECT coalesce(max(last_check_at)::text, 'never') FROM supamon.project}), $before,
	'it checked this project');
is($node->safe_psql('other', q{SELECT count(*) FROM supamon.project WHERE last_check_at IS NOT NULL}), '1',
	"and the other database's");

is($node->safe_psql('other', 'SELECT supamon_unschedule()'), 't', 'supamon_unschedule() from there removes it');
is(sql(q{SELECT string_agg(jobname, ',') FROM cron.job}), 'supamon-check', "and only it: this database's stays");
is($node->safe_psql('other', 'SELECT supamon_unschedule()'), 'f', 'then finds nothing');

# pg_cron's database refusing connections: a clear error, nothing half done.
$node->safe_psql('other', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false');
($rc, $out, $err) = $node->psql('other', q{SELECT supamon_schedule()});
$node->safe_psql('other', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true');
like($err, qr/could not reach pg_cron in database "postgres" as role "\w+"/, "where it cannot connect: $err");
is(sql(q{SELECT count(*) FROM cron.job}), '1', 'and nothing was scheduled');

done_testing();
