# The jobs' statuses and the runs logged travel as one record[] parameter
# each (spi.c SupamonRowType/SupamonRecordArray, "unnest($2) AS u(column
# type, ...)"), and a project's row as the recording's UPDATE returns it is
# what the check decides from.  Attacks (an outside review):
#  - NULL in every nullable column of a run and of a job's run columns
#    (message, start, end; a run in progress), and job names that a record's
#    text form would have to quote;
#  - one backend that drops and re-creates the extension between checks
#    (its plans and its record types are kept per backend);
#  - a run logged already: the recording's INSERT meets the unique index,
#    and audit.c records the project again with ON CONFLICT (insert_runs_again).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SupamonTest;

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$fleet->start;
$fleet->safe_psql('postgres', 'CREATE DATABASE pe');
$fleet->safe_psql('pe', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('* * * * *', 'SELECT 1/0', 'a,"b)\\'),
	('* * * * *', 'SELECT 1', 'ok'),
	('* * * * *', 'SELECT pg_sleep(1000)', 'slow'),
	('* * * * *', 'SELECT 1/0', 'nostart');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time) VALUES
	(1, 'failed', NULL, now() - interval '2 minutes', now() - interval '119 seconds'),
	(2, 'succeeded', '1 row', now() - interval '2 minutes', NULL),
	(3, 'running', NULL, now() - interval '30 seconds', NULL),
	(4, 'failed', 'boom', NULL, now() - interval '100 seconds');
});

my $c = PostgreSQL::Test::Cluster->new('central');
$c->init;
$c->append_conf('postgresql.conf', qq{
supamon.connect_timeout = 2000
supamon.query_timeout = 3000
});
$c->start;

my $add = "SELECT supamon_add_project('pe', '@{[project_connstr($fleet, 'pe')]}')";
sub sql { return $c->safe_psql('postgres', $_[0]); }

my $log_sql = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', job_name, status,
		coalesce(error_message, '<null>'), last_run_at IS NULL, run_ended_at IS NULL,
		run_id IS NULL), E'\n' ORDER BY job_name, id)
	FROM supamon.job_health_log WHERE project_name = 'pe' AND run_id IS NOT NULL};
my $log_expected = join("\n",
	'a,"b)\\|failed|<null>|f|f|f',
	'nostart|failed|boom|t|f|f',
	'ok|success|<null>|f|t|f');
my $jobs_sql = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', job_name,
		coalesce(last_run_status, '<null>'), coalesce(last_run_message, '<null>'),
		last_run_ended_at IS NULL, coalesce(running_status, '<null>'), running_since IS NULL),
		E'\n' ORDER BY job_name)
	FROM supamon.job_inventory WHERE project_name = 'pe' AND job_type = 'pg_cron'};
my $jobs_expected = join("\n",
	'a,"b)\\|failed|<null>|f|<null>|t',
	'nostart|failed|boom|f|<null>|t',
	'ok|succeeded|1 row|t|<null>|t',
	'slow|<null>|<null>|t|running|f');

# one backend for everything: its plans and record types live on
my $s = $c->background_psql('postgres');
$s->query_safe('CREATE EXTENSION supamon');
$s->query_safe($add);
my $summary = $s->query_safe('SELECT supamon_check_health()');
note $summary;
is(sql($log_sql), $log_expected, 'runs logged with their NULLs where they have none');
is(sql($jobs_sql), $jobs_expected, "jobs' run columns written with their NULLs");

for my $round (1, 2)
{
	$s->query_safe('DROP EXTENSION supamon CASCADE');
	$s->query_safe('CREATE EXTENSION supamon');
	$s->query_safe($add);
	$summary = $s->query_safe('SELECT supamon_check_health()');
	note $summary;
	unlike($summary, qr/"unreachable": [1-9]/, "re-created $round: the project is read");
	is(sql($log_sql), $log_expected, "re-created $round: the same runs logged, in the same backend");
	is(sql($jobs_sql), $jobs_expected, "re-created $round: the same run columns written");
	is(sql(q{SELECT coalesce(last_error, '<none>') FROM supamon.project WHERE name = 'pe'}), '<none>',
		"re-created $round: no recording error");
}
$s->quit;

# a run that is logged already when the check reads it: the recording's
# INSERT meets job_health_log_job_run_idx, and is made again with ON CONFLICT
$fleet->safe_psql('pe', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time) VALUES
	(1, 'failed', 'again', now() - interval '50 seconds', now() - interval '49 seconds'),
	(2, 'succeeded', '1 row', now() - interval '50 seconds', now() - interval '49 seconds');
});
my ($runid, $start) = split /\|/, $fleet->safe_psql('pe',
	q{SELECT runid, start_time FROM cron.job_run_details WHERE return_message = 'again'});
sql(qq{INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, error_message,
	last_run_at, run_id) VALUES ('pe', 'pg_cron', 'a,"b)\\', 'failed', 'again', '$start', $runid)});
$summary = sql('SELECT supamon_check_health()');
note $summary;
is(sql(q{SELECT coalesce(last_error, '<none>') || ' ' || reachable FROM supamon.project WHERE name = 'pe'}),
	'<none> true', 'a run logged already: recorded again, without an error');
is(sql(qq{SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'pe' AND run_id = $runid}),
	'1', 'and that run is logged once');
is(sql(q{SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'pe' AND job_name = 'ok'
	AND run_id IS NOT NULL}), '2', 'the other new run is logged');

done_testing();
