# Hostile and messy project data: one project's bad data is that project's
# error, never a crash and never the fleet's.
#
# Clusters: "central" (supamon), "cronp" (real pg_cron 1.4 with real jobs:
# duplicate names from two roles, a monitoring role under pg_cron's
# row-level security), "hostile" (plain databases whose cron schema the test
# writes, views included: NULLs, duplicates, times far in the future or BC,
# text cut mid-character, a 200 kB error with stray bytes, a renamed job,
# 60,000 jobs).  Healthy projects sit beside them in every check and must
# be recorded, decided and left unalerted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init(extra => ['--encoding=UTF8', '--locale=C']);
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
supamon.query_timeout = 20000
});
$central->start;
$central->safe_psql('postgres', 'CREATE EXTENSION supamon');

my $cronp = PostgreSQL::Test::Cluster->new('cronp');
$cronp->init;
$cronp->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $cronp->host . qq{'
});
$cronp->start;

my $hostile = PostgreSQL::Test::Cluster->new('hostile');
$hostile->init(extra => ['--encoding=UTF8', '--locale=C']);
$hostile->start;

# --- real pg_cron: two roles whose job names collide once user-qualified
$cronp->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE monitor LOGIN;
GRANT USAGE ON SCHEMA cron TO alice, bob, monitor;
GRANT SELECT ON cron.job, cron.job_run_details TO monitor;
SELECT cron.schedule('steady', '* * * * *', 'SELECT 1');
});
$cronp->safe_psql('postgres', q{SET ROLE alice;
SELECT cron.schedule('a (bob)', '* * * * *', 'SELECT 1');
SELECT cron.schedule('a', '* * * * *', 'SELECT 1/0');});
$cronp->safe_psql('postgres', q{SET ROLE bob; SELECT cron.schedule('a', '* * * * *', 'SELECT 2');});
# a secret in a command and in its run's error, as Supabase projects have them
$cronp->safe_psql('postgres', q{SELECT cron.schedule('secret-call', '* * * * *', $cmd$DO $$ BEGIN
	PERFORM '{"Content-Type": "application/json", "Authorization": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.SIGNATUREsignature123"}'::jsonb;
	RAISE EXCEPTION 'could not connect: password=hunter2secret apikey: sb_secret_abcdefghijklmnop1234';
END $$$cmd$);});

# --- hand-written projects, one database each
my %views;
sub hostile_db
{
	my ($db, $sql, %opt) = @_;
	$hostile->safe_psql('postgres', "CREATE DATABASE $db" . ($opt{encoding} ? " ENCODING '$opt{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" : ''));
	$hostile->safe_psql($db, cron_tables_sql() . $sql);
	$central->safe_psql('postgres', "SELECT supamon_add_project('$db', '@{[project_connstr($hostile, $db)]}')");
}

# healthy: an every-minute job that ran 20 s ago, a nightly that ran last night
hostile_db('good', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'minutely');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '20 seconds', now() - interval '19 seconds');
});
# a NULL jobid in cron.job (a view)
hostile_db('nulljob', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT NULL::bigint AS jobid, schedule, command, nodename, nodeport,
	database, username, active, jobname FROM cron.job_t;
INSERT INTO cron.job_t (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'x');
});
# NULLs everywhere else: jobname, schedule, username, active; runs without
# jobid, runid, status or times
hostile_db('nulls', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT jobid, CASE WHEN jobid = 2 THEN NULL ELSE schedule END AS schedule,
	command, nodename, nodeport, NULL::text AS database, NULL::text AS username,
	CASE WHEN jobid = 3 THEN NULL ELSE active END AS active, NULL::name AS jobname FROM cron.job_t;
INSERT INTO cron.job_t (schedule, command) VALUES ('* * * * *', 'SELECT 1'), ('* * * * *', 'SELECT 2'), ('* * * * *', 'SELECT 3');
ALTER TABLE cron.job_run_details DROP CONSTRAINT job_run_details_pkey;
ALTER TABLE cron.job_run_details ALTER COLUMN runid DROP NOT NULL;
INSERT INTO cron.job_run_details (jobid, runid, status, start_time, end_time) VALUES
	(1, 1, 'succeeded', now() - interval '10 seconds', now());
});
# duplicate jobids and names
hostile_db('dupid', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT * FROM cron.job_t UNION ALL SELECT * FROM cron.job_t;
INSERT INTO cron.job_t (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'twice');
});
hostile_db('dupname', q{
ALTER TABLE cron.job ALTER COLUMN jobname TYPE text;
INSERT INTO cron.job (schedule, command, jobname, username) VALUES
	('* * * * *', 'SELECT 1', 'same', 'u1'), ('* * * * *', 'SELECT 2', 'same', 'u1'),
	('* * * * *', 'SELECT 3', 'same (u1)', 'u2'), ('* * * * *', 'SELECT 4', 'same #1', 'u3'),
	('* * * * *', 'SELECT 5', '', 'u4'), ('* * * * *', 'SELECT 6', 'job 5', 'u5'),
	('* * * * *', 'SELECT 7', repeat('n', 300) || 'a', 'u6'), ('* * * * *', 'SELECT 8', repeat('n', 300) || 'b', 'u6');
});
# a row with the largest runid, beside pg_cron's sequence: later runs must
# still be read
hostile_db('poison', q{
CREATE SEQUENCE cron.runid_seq;
ALTER TABLE cron.job_run_details ALTER COLUMN runid SET DEFAULT nextval('cron.runid_seq');
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'minutely');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '20 seconds', now());
INSERT INTO cron.job_run_details (jobid, runid, status, return_message, start_time, end_time)
VALUES (1, 9223372036854775807, 'succeeded', '1 row', now() - interval '20 seconds', now());
});
# jobids and flags as text, in a view: "1" and "01" are one jobid; "true"
# and "FALSE" are read as booleans
hostile_db('twins', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT v.jobid, '* * * * *'::text AS schedule, 'SELECT 1'::text AS command,
	'postgres'::text AS database, 'postgres'::text AS username, 'true'::text AS active, 'j' || v.jobid AS jobname
	FROM (VALUES ('1'), ('01')) v(jobid);
});
hostile_db('texty', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT v.jobid, '0 0 1 1 *'::text AS schedule, 'SELECT 1'::text AS command,
	'postgres'::text AS database, 'postgres'::text AS username, v.active, 'j' || v.jobid AS jobname
	FROM (VALUES ('1', 'true'), ('2', 'FALSE')) v(jobid, active);
});
# a run started in year 3000 beside an honest one 10 minutes ago
hostile_db('future', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'minutely');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time) VALUES
	(1, 'succeeded', '1 row', now() - interval '10 minutes', now() - interval '10 minutes');
});
# a failed run whose message is cut in the middle of a character, and a
# run that started before Christ
hostile_db('cut', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'cyrillic'), ('0 0 1 1 *', 'SELECT 1', 'ancient');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time) VALUES
	(1, 'failed', 'ab' || repeat('Ж', 3000), now() - interval '20 seconds', now()),
	(2, 'succeeded', 'veni', '0044-03-15 12:00:00+00 BC', '0044-03-15 12:00:01+00 BC');
});
# a 200 kB error with stray bytes, from a SQL_ASCII database
hostile_db('bigerr', q{
CREATE FUNCTION cron.boom() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', E'\\xff\\xfe' || repeat('e', 200000); END $$;
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT * FROM cron.job_t WHERE cron.boom();
INSERT INTO cron.job_t (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'x');
}, encoding => 'SQL_ASCII');

$central->safe_psql('postgres', qq{
SELECT supamon_add_project('cronp', '@{[project_connstr($cronp)]}');
INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook');
});

sub check
{
	my $r = $central->safe_psql('postgres', 'SELECT supamon_check_health()');
	my %h = $r =~ /"(\w+)": "?([^,"}]*)/g;
	return \%h;
}
sub status_of
{
	my ($project) = @_;
	return $central->safe_psql('postgres', qq{
		SELECT reachable || ':' || coalesce(last_error, '') FROM supamon.project WHERE name = '$project'});
}

# --- one check with every hostile project: no crash, everyone recorded
my $h = check();
ok(defined $h->{total_jobs}, 'the check finishes with hostile projects in the fleet');
is($central->safe_psql('postgres', 'SELECT 1'), '1', 'the central server is still up');
like(status_of('nulljob'), qr/^false:cron\.job has a job whose jobid is NULL$/, 'a NULL jobid: that project fails, with the reason');
like(status_of('dupid'), qr/^false:cron\.job lists jobid 1 more than once$/, 'a duplicated jobid: that project fails, with the reason');
is(status_of('good'), 'true:', 'good is reached');
like(status_of('twins'), qr/^false:cron\.job lists jobid 1 more than once$/, 'jobids "1" and "01" are one jobid, twice');
is($central->safe_psql('postgres', "SELECT string_agg(name || ':' || status, ',' ORDER BY name) FROM supamon.job_status WHERE project = 'texty'"),
	'j1:unknown,j2:paused', 'active as text: "true" watched, "FALSE" paused');
is($central->safe_psql('postgres', "SELECT string_agg(name || ':' || status, ',') FROM supamon.job_status WHERE project = 'good'"),
	'minutely:success', 'and its job is healthy');
is($central->safe_psql('postgres', "SELECT count(*) FROM supamon.alert_outbox WHERE project_name IN ('good', 'cronp') AND job_name IS NOT NULL"),
	'0', 'healthy projects raise no job alert');


# duplicate names: unique by construction
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name, '|' ORDER BY job_id) FROM supamon.job_inventory WHERE project_name = 'dupname'}),
	'same #1-2|same #2|same (u1)|same #1|job 5 (u4)|job 5 (u5)|' . ('n' x 200) . '... [cut] (u6)|' . ('n' x 200) . '... [cut] #8',
	'duplicate, empty, colliding and cut names each get a name of their own');

# BC times
is($central->safe_psql('postgres', q{
	SELECT to_char(last_run_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD BC') FROM supamon.job_inventory WHERE job_name = 'ancient'}),
	'0044-03-15 BC', 'a start before Christ keeps its era');

# text cut on character boundaries, saying so
is($central->safe_psql('postgres', q{
	SELECT (right(status_reason, 4) = 'Ж...') || ' ' || (right(last_run_message, 10) = 'Ж... [cut]')
		|| ' ' || length(last_run_message)
	FROM supamon.job_inventory WHERE job_name = 'cyrillic'}),
	'true true ' . (2000 + 9), "a failed run's message is cut between characters, and says so");
my $bigerr = status_of('bigerr');
like($bigerr, qr/^false:\?\?e+\.\.\. \[cut\]$/, 'a 200 kB error with stray bytes: cleaned and cut');
cmp_ok(length($bigerr), '<=', 1020, 'to about 1,000 characters');

# what the next check reads: runs without a job, a runid or a known
# status, a finished run without times, a run that started in year 3000
$hostile->safe_psql('nulls', q{
INSERT INTO cron.job_run_details (jobid, runid, status, start_time, end_time) VALUES
	(NULL, 100, 'succeeded', now(), now()),
	(1, NULL, 'succeeded', now(), now()),
	(1, 101, NULL, now(), now()),
	(1, 102, 'exploded', now(), now()),
	(1, 103, 'succeeded', NULL, NULL),
	(99, 104, 'running', now(), NULL);
});
$hostile->safe_psql('future', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', '3000-01-01', '3000-01-01');
});

$hostile->safe_psql('poison', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', 'ERROR:  late failure', now(), now());
});

# --- real pg_cron: duplicate names across roles; every job gets its runs
ok($cronp->poll_query_until('postgres',
		"SELECT count(DISTINCT jobid) = 5 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')"),
	'cronp ran its five jobs');
$h = check();
is(status_of('cronp'), 'true:', "two roles' jobs named alike: the project is recorded");
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || username || ':' || last_run_status, ',' ORDER BY job_id)
	FROM supamon.job_inventory WHERE project_name = 'cronp'}),
	'steady:postgres:succeeded,a (bob):alice:succeeded,a (alice):alice:failed,a #4:bob:succeeded,secret-call:postgres:failed',
	'each job has its own name and its own last run');

# secrets: redacted in everything pg_monitor reads and every alert
{
	$central->safe_psql('postgres', 'CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
	my $seen = $central->safe_psql('postgres', q{SET ROLE watcher;
		SELECT concat_ws(' | ', command, last_run_message, status_reason) FROM supamon.job_inventory WHERE project_name = 'cronp' AND job_name = 'secret-call';
		SELECT string_agg(concat_ws(' | ', name, reason, last_error), ' ') FROM supamon.job_status WHERE project = 'cronp' AND name = 'secret-call';
		SELECT string_agg(error_message, ' ') FROM supamon.job_health_log WHERE project_name = 'cronp' AND job_name = 'secret-call';
		SELECT string_agg(message || details::text, ' ') FROM supamon.alert_outbox WHERE project_name = 'cronp' AND job_name = 'secret-call';});
	unlike($seen, qr/eyJhbGci|SIGNATURE|hunter2secret|sb_secret_abcdef/, 'no token, JWT, password or key reaches what pg_monitor reads or an alert');
	like($seen, qr/Bearer \*\*\*.*password=\*\*\*/s, 'they are shown as ***');
	like($central->safe_psql('postgres', "SELECT count(*) FROM supamon.alert_outbox WHERE project_name = 'cronp' AND job_name = 'secret-call'"),
		qr/^[1-9]/, 'and the failure was alerted');
}


# NULLs: jobs named by id, a NULL schedule is unknown, a NULL active is
# active; runs without jobid, runid or a known status are left out
is(status_of('nulls'), 'true:', 'NULLs in optional columns: the project is read');
is($central->safe_psql('postgres', q{
	SELECT string_agg(name || ':' || status || ':' || coalesce(last_run_status, '-'), ',' ORDER BY name)
	FROM supamon.job_status WHERE project = 'nulls'}),
	'job 1:success:succeeded,job 2:unknown:-,job 3:unknown:-', 'NULL names, schedules and flags become defaults');
like($central->safe_psql('postgres', "SELECT health_note FROM supamon.project WHERE name = 'nulls'"),
	qr/3 run\(s\) without a job, a runid or a known status ignored/, 'the runs left out are counted');
is($central->safe_psql('postgres', "SELECT open_run_ids FROM supamon.project WHERE name = 'nulls'"),
	'{}', 'a run in progress of a job gone from cron.job is not read again and again');

# a runid beyond pg_cron's sequence
is($central->safe_psql('postgres', q{
	SELECT (SELECT run_high_water FROM supamon.project WHERE name = 'poison') || ':' || status
	FROM supamon.job_inventory WHERE project_name = 'poison'}),
	'2:failed', "a runid beyond pg_cron's sequence does not hide the runs after it");

# a run in year 3000
is($central->safe_psql('postgres', q{
	SELECT status || ' ' || (last_start_at < now() + interval '1 day') FROM supamon.job_inventory WHERE project_name = 'future'}),
	'missed true', 'a start in year 3000 is not taken as the latest start: the job stays missed');
like($central->safe_psql('postgres', "SELECT health_note FROM supamon.project WHERE name = 'future'"),
	qr/run time\(s\) later than the project's clock ignored/, 'and that is said');

# --- another role scheduling a job of the same name does not rename the
# job that holds it, nor strip what the user set on it
$central->safe_psql('postgres', "UPDATE supamon.job_inventory SET criticality = 'critical', description = 'the heartbeat' WHERE project_name = 'cronp' AND job_name = 'steady'");
$cronp->safe_psql('postgres', q{SET ROLE alice; SELECT cron.schedule('steady', '0 0 1 1 *', 'SELECT 3');});
check();
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || job_id || ':' || criticality || ':' || coalesce(description, '-') || ':' || (removed_at IS NULL), ',' ORDER BY job_id)
	FROM supamon.job_inventory WHERE project_name = 'cronp' AND job_name LIKE 'steady%'}),
	'steady:1:critical:the heartbeat:true,steady (alice):6:important:-:true',
	'the job that held the name keeps it and its settings; the newcomer is named by its role');
$central->safe_psql('postgres', "UPDATE supamon.job_inventory SET criticality = 'low' WHERE project_name = 'cronp' AND job_name = 'a (alice)'");
$cronp->safe_psql('postgres', q{SET ROLE bob; SELECT cron.unschedule('a');});
check();
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || job_id || ':' || criticality || ':' || (removed_at IS NULL), ',' ORDER BY job_id)
	FROM supamon.job_inventory WHERE project_name = 'cronp' AND job_name LIKE 'a %'}),
	'a (bob):2:important:true,a (alice):3:low:true,a #4:4:important:false',
	"when its twin goes, a job keeps the name it had and what the user set on it");

# --- pg_cron's row-level security: a monitoring role sees only its own jobs
my $removed_sql = "SELECT string_agg(job_name, ',' ORDER BY job_name) FROM supamon.job_inventory WHERE project_name = 'cronp' AND removed_at IS NOT NULL";
my $statuses_sql = "SELECT string_agg(job_name || ':' || status, ',' ORDER BY job_name) FROM supamon.job_inventory WHERE project_name = 'cronp'";
my ($removed_before, $statuses_before) = map { $central->safe_psql('postgres', $_) } $removed_sql, $statuses_sql;
$central->safe_psql('postgres', "SELECT supamon_set_conninfo('cronp', '@{[project_connstr($cronp, 'postgres', 'monitor')]}')");
$h = check();
is($central->safe_psql('postgres', $removed_sql), $removed_before,
	"under row-level security, other roles' jobs are not taken for removed");
is($central->safe_psql('postgres', $statuses_sql), $statuses_before,
	'and keep their last known status');
like($central->safe_psql('postgres', "SELECT health_note FROM supamon.project WHERE name = 'cronp'"),
	qr/row-level security shows role monitor only its own jobs/, 'and the note says what supamon can see');
$central->safe_psql('postgres', "SELECT supamon_set_conninfo('cronp', '@{[project_connstr($cronp)]}')");

# --- a renamed job: its runs are logged once, under its new name
$hostile->safe_psql('good', q{
UPDATE cron.job SET jobname = 'renamed' WHERE jobid = 1;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '5 seconds', now());
});
check();
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || (removed_at IS NOT NULL) || ':' || coalesce(last_run_id::text, '-'), ',' ORDER BY job_name)
	FROM supamon.job_inventory WHERE project_name = 'good'}),
	'minutely:true:1,renamed:false:2', "the old name is removed and keeps its last run; the new one has the new run");
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || run_id, ',' ORDER BY run_id) FROM supamon.job_health_log
	WHERE project_name = 'good' AND run_id IS NOT NULL}),
	'minutely:1,renamed:2', 'each run is logged once');

# --- a job deleted and scheduled again under the same name is a new job:
# what was observed of the old one does not carry over
$hostile->safe_psql('good', q{
DELETE FROM cron.job WHERE jobname = 'renamed';
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 0 1 1 *', 'SELECT 2', 'renamed');
});
check();
is($central->safe_psql('postgres', q{
	SELECT concat_ws(':', status, coalesce(last_run_status, '-'), consecutive_failures, removed_at IS NULL)
	FROM supamon.job_inventory WHERE project_name = 'good' AND job_name = 'renamed'}),
	'unknown:-:0:t', "a new job under an old name does not inherit the old job's runs");

# --- a lock or serialization problem on the central side is the check's
# error, not a project's: nothing is blamed on a healthy project
{
	# the job whose row is held has a new run: the check must write that row
	# (a row with nothing new is not written, so no lock on it is waited for)
	$hostile->safe_psql('good', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT jobid, 'succeeded', '1 row', now(), now() FROM cron.job WHERE jobname = 'renamed'});
	my $bg = $central->background_psql('postgres');
	$bg->query_safe("BEGIN; UPDATE supamon.job_inventory SET description = 'editing' WHERE project_name = 'good' AND job_name = 'renamed'");
	my ($ret, $out, $err) = $central->psql('postgres', "SET lock_timeout = '1s'; SELECT supamon_check_health('good')");
	like($err, qr/lock timeout/, 'a lock timeout ends the check with its error');
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	is($central->safe_psql('postgres', "SELECT status FROM supamon.project WHERE name = 'good'") . ':'
		. $central->safe_psql('postgres', "SELECT count(*) FROM supamon.alert_outbox WHERE project_name = 'good' AND event = 'unreachable'"),
		'scheduler_down:0', 'and the project is not made unreachable by it');
}

# --- a job and its run created while the project is being read: one
# snapshot, so the run is read by this collection or the next, never lost
$hostile->safe_psql('good', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(2);
});
{
	my $bg = $central->background_psql('postgres');
	$bg->query_until(qr/start/, "\\echo start\nSELECT * FROM supamon_audit('good');\n");
	sleep 1;
	$hostile->safe_psql('good', q{
INSERT INTO cron.job_t (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'late');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (currval('cron.job_jobid_seq'), 'succeeded', '1 row', now(), now());
});
	$bg->quit;
}
$central->safe_psql('postgres', "SELECT * FROM supamon_audit('good')");
is($central->safe_psql('postgres', "SELECT last_run_status FROM supamon.job_inventory WHERE job_name = 'late'"),
	'succeeded', 'a job created during a collection gets its run');
$hostile->safe_psql('good', 'DROP VIEW cron.job; ALTER TABLE cron.job_t RENAME TO job;');

# --- 60,000 jobs: recorded in linear time, and statement_timeout still bites
hostile_db('huge', q{
INSERT INTO cron.job (schedule, command, jobname)
SELECT '*/5 * * * *', 'SELECT ' || i, 'job-' || i FROM generate_series(1, 60000) i;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT i, 'succeeded', '1 row', now() - interval '1 minute', now() FROM generate_series(1, 60000) i;
});
{
	my $t0 = time;
	my ($ret, $out, $err) = $central->psql('postgres',
		"SET statement_timeout = '2s'; SELECT jobs FROM supamon_audit('huge')");
	my $took = time - $t0;
	ok($ret == 0 || $err =~ /statement timeout/, 'statement_timeout during a 60,000-job audit: done or cancelled');
	cmp_ok($took, '<', 5, sprintf('within %.1f s', $took));
	$t0 = time;
	is($central->safe_psql('postgres', "SELECT jobs FROM supamon_audit('huge')"),
		'60000', '60,000 jobs are recorded');
	note(sprintf('first audit of 60,000 jobs: %.1f s', time - $t0));
	$t0 = time;
	$central->safe_psql('postgres', "SELECT supamon_check_health('huge')");
	note(sprintf('check of 60,000 jobs: %.1f s', time - $t0));
}

# --- through all this, the healthy project never raised an alert
is($central->safe_psql('postgres', "SELECT count(*) FROM supamon.alert_outbox WHERE project_name = 'good' AND job_name IS NOT NULL"),
	'0', 'no job alert for the healthy project (its one alert: no scheduler runs there)');
is($central->safe_psql('postgres', 'SELECT count(*) FROM pg_stat_activity WHERE backend_type = \'client backend\''),
	'1', 'no session of the central server was lost or left behind');

done_testing();
