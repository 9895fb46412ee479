# supamon_schedule() and supamon_unschedule(): one pg_cron job that runs the
# check, changed in place by a second call, removed; a bad schedule and a
# database without pg_cron refused with a clear error; and the scheduled
# check really runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SupamonTest;

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

# One schedule text in two projects on two pg_cron versions, in one check:
# this database's pg_cron 1.4 has no "N seconds" schedules, a project without
# the extension is read as the newest (1.6), which has.  Schedules are
# parsed once per check: each project gets its own version's reading.
$node->safe_psql('postgres', q{
SELECT supamon_unschedule();
CREATE DATABASE newer;
INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, jobname)
	VALUES ('30 seconds', 'SELECT 1', 'localhost', 5432, 'postgres', current_user, 'secs');
});
$node->safe_psql('newer', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('30 seconds', 'SELECT 1', 'secs');
});
sql(sprintf(q{SELECT supamon_add_project('newer', 'host=%s port=%s dbname=newer')}, $node->host, $node->port));
# twice: the order in which the projects answer decides which is read first
for my $round (1, 2)
{
	sql('SELECT supamon_check_health()');
	is(sql(q{SELECT string_agg(project_name || ':' || coalesce(expected_interval_minutes::text, '-'), ',' ORDER BY project_name)
		FROM supamon.job_inventory WHERE job_name = 'secs'}), 'newer:0.50,self:-',
		"check $round: the interval of \"30 seconds\" as each project's pg_cron reads it");
	like(sql(q{SELECT status_reason FROM supamon.job_inventory WHERE project_name = 'self' AND job_name = 'secs'}),
		qr/seconds/, 'and pg_cron 1.4 is said not to take it');
	unlike(sql(q{SELECT coalesce(status_reason, '') FROM supamon.job_inventory WHERE project_name = 'newer' AND job_name = 'secs'}),
		qr/not valid|invalid|does not/, 'while 1.6 does');
}

done_testing();
