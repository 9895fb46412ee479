-- Per-job settings through supamon_set_job (checked first, nothing written
-- on bad input, kept through rediscovery) and a default criticality per
-- project, by name pattern, for the jobs and Edge Functions found later;
-- the jobs of a project that does not answer, as job_status shows them.
-- The project is this very database with pg_cron's tables written by hand.
CREATE EXTENSION supamon;
SET client_min_messages = warning;
\i test/regress_cron.sql
CREATE FUNCTION add_job(name text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', name) $$;
CREATE FUNCTION settings(name text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(concat_ws(' ', job_type, criticality, grace, failure_threshold, max_runtime,
		description, success_criteria), '; ' ORDER BY job_type)
	FROM supamon.job_inventory WHERE job_name = name $$;

SELECT supamon_add_project('here');
SELECT add_job('nightly');
SELECT count(*) AS found FROM supamon_audit();

-- Defaults: bad input refused, nothing written.
\set VERBOSITY terse
SELECT supamon_set_default_criticality('nowhere', 'critical');
SELECT supamon_set_default_criticality('here', 'urgent');
SELECT supamon_set_default_criticality('here', 'critical', '');
SELECT count(*) AS rules FROM supamon.criticality_default;
\set VERBOSITY default

-- The project's default, and patterns: the longest that matches wins; '_'
-- is a plain character, '%' the only wildcard.
SELECT supamon_set_default_criticality('here', 'critical');
SELECT supamon_set_default_criticality('here', 'low');   -- changed in place
SELECT supamon_set_default_criticality('here', 'important', 'backup%');
SELECT supamon_set_default_criticality('here', 'critical', 'backup_db%');
SELECT job_pattern, criticality FROM supamon.criticality_default ORDER BY job_pattern NULLS FIRST;
SELECT add_job('backup_db_main'), add_job('backupXdb'), add_job('report'), add_job('backup_files');
SELECT count(*) AS found FROM supamon_audit();
SELECT job_name, criticality FROM supamon.job_inventory ORDER BY job_name;

-- A job known before the rules keeps its criticality; a rule removed
-- (criticality NULL) no longer applies.
SELECT supamon_set_default_criticality('here', NULL, 'backup_db%');
SELECT add_job('backup_db_replica');
SELECT count(*) AS found FROM supamon_audit();
SELECT job_name, criticality FROM supamon.job_inventory
WHERE job_name IN ('nightly', 'backup_db_replica') ORDER BY job_name;

-- supamon_set_job: bad input is a clear error, and nothing is written.
\set VERBOSITY terse
SELECT settings('nightly') AS before;
SELECT supamon_set_job('nowhere', 'nightly', criticality => 'critical');
SELECT supamon_set_job('here', 'weekly', criticality => 'critical');
SELECT supamon_set_job('here', 'nightly', criticality => 'urgent', grace => '5 minutes');
SELECT supamon_set_job('here', 'nightly', grace => '-1 minute');
SELECT supamon_set_job('here', 'nightly', grace => '1 month');
SELECT supamon_set_job('here', 'nightly', grace => '8 days');
SELECT supamon_set_job('here', 'nightly', max_runtime => '0');
SELECT supamon_set_job('here', 'nightly', failure_threshold => 0);
SELECT supamon_set_job('here', 'nightly', job_type => 'edge_function', criticality => 'low');
SELECT settings('nightly') AS unchanged;
\set VERBOSITY default

-- Good settings; NULL leaves a setting as it is; rediscovery keeps them.
SELECT supamon_set_job('here', 'nightly', criticality => 'critical', grace => '15 minutes',
	failure_threshold => 3, max_runtime => '2 hours', description => 'the nightly export',
	success_criteria => 'a file in the bucket');
SELECT supamon_set_job('here', 'nightly', grace => '20 minutes');
SELECT settings('nightly') AS set;
UPDATE cron.job SET schedule = '0 4 * * *' WHERE jobname = 'nightly';
SELECT count(*) AS found FROM supamon_audit();
SELECT settings('nightly') AS kept, (SELECT schedule FROM supamon.job_inventory WHERE job_name = 'nightly') AS schedule;

-- A name that is both a pg_cron job and an Edge Function: say which.
INSERT INTO supamon.job_inventory (project_name, job_type, job_name) VALUES ('here', 'edge_function', 'report');
\set VERBOSITY terse
SELECT supamon_set_job('here', 'report', criticality => 'critical');
\set VERBOSITY default
SELECT supamon_set_job('here', 'report', criticality => 'critical', job_type => 'edge_function');
SELECT settings('report') AS report;

-- Only the owner (and superusers) may change settings.
SELECT has_function_privilege('pg_monitor', 'supamon_set_job(text, text, text, interval, integer, interval, text, text, text)', 'EXECUTE') AS monitor_may_set,
	   has_function_privilege('pg_monitor', 'supamon_set_default_criticality(text, text, text)', 'EXECUTE') AS monitor_may_default;

-- While a project does not answer, its jobs are shown as it is (the usual
-- query for problems lists them), their last known status beside.
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT jobid, 'succeeded', '1 row', supamon_prev_run('0 4 * * *', now()) + interval '1 second',
	supamon_prev_run('0 4 * * *', now()) + interval '2 seconds'
FROM cron.job WHERE jobname = 'nightly';
SELECT (supamon_check_health('here') ->> 'unreachable_projects') AS unreachable;
SELECT status FROM supamon.job_status WHERE type = 'pg_cron' AND name = 'nightly';
SELECT supamon_set_conninfo('here', 'host=127.0.0.1 port=1 dbname=nowhere');
SELECT (supamon_check_health('here') ->> 'unreachable_projects') AS unreachable;
SELECT name, status, last_known_status FROM supamon.job_status
WHERE type = 'pg_cron' AND status NOT IN ('success', 'paused') AND name IN ('nightly', 'report') ORDER BY name;
SELECT count(*) AS still_known FROM supamon.job_inventory WHERE status <> 'unreachable';

DROP EXTENSION supamon;
DROP SCHEMA cron CASCADE;
DROP FUNCTION add_job, settings;
