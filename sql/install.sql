-- Installation: what CREATE EXTENSION makes, what the constraints reject,
-- and that DROP EXTENSION leaves nothing behind.
CREATE EXTENSION supamon;

SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'supamon') AS is_default,
	   extrelocatable
FROM pg_extension WHERE extname = 'supamon';

-- Every object belongs to the extension.
SELECT pg_describe_object(classid, objid, objsubid) AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'supamon')
  AND deptype = 'e'
ORDER BY 1;

-- Good rows go in, with the documented defaults.
INSERT INTO supamon.project (name) VALUES ('alpha');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, schedule)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', '0 3 * * *');
SELECT criticality, active, grace, removed_at FROM supamon.job_inventory;
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', 'success');
INSERT INTO supamon.alert_config (channel, criticality, chat_id, bot_token)
	VALUES ('telegram', 'critical', '-100123', 'token-not-shown');
SELECT channel, criticality, enabled FROM supamon.alert_config;

-- Bad values are rejected by name (terse: the failing row holds timestamps).
\set VERBOSITY terse
INSERT INTO supamon.project (name) VALUES ('has space');
INSERT INTO supamon.project (name, supabase_ref) VALUES ('beta', 'Not A Ref');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name)
	VALUES ('alpha', 'shell_script', 'x');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, criticality)
	VALUES ('alpha', 'pg_cron', 'x', 'urgent');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, grace)
	VALUES ('alpha', 'pg_cron', 'x', '-5 minutes');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name)
	VALUES ('nowhere', 'pg_cron', 'x');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', 'ok');
INSERT INTO supamon.alert_config (channel) VALUES ('slack');
INSERT INTO supamon.alert_config (channel, criticality) VALUES ('discord', 'urgent');
INSERT INTO supamon.alert_config (channel) VALUES ('discord');
INSERT INTO supamon.alert_config (channel, chat_id) VALUES ('telegram', '-100123');
INSERT INTO supamon.alert_outbox (channel, event, message, state)
	VALUES ('discord', 'failed', 'm', 'lost');
\set VERBOSITY default
SELECT count(*) AS projects FROM supamon.project;
SELECT count(*) AS jobs FROM supamon.job_inventory;

-- A job's history follows the job: renamed with its project, deleted with
-- its row, and only its own.
INSERT INTO supamon.project (name) VALUES ('gamma');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name)
	VALUES ('gamma', 'pg_cron', 'a'), ('gamma', 'pg_cron', 'b');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	VALUES ('gamma', 'pg_cron', 'a', 'success'), ('gamma', 'pg_cron', 'b', 'failed');
UPDATE supamon.project SET name = 'delta' WHERE name = 'gamma';
SELECT project_name, job_name, status FROM supamon.job_health_log
WHERE project_name IN ('gamma', 'delta') ORDER BY job_name;
DELETE FROM supamon.job_inventory WHERE project_name = 'delta' AND job_name = 'a';
SELECT project_name, job_name, status FROM supamon.job_health_log
WHERE project_name IN ('gamma', 'delta') ORDER BY job_name;
DELETE FROM supamon.project WHERE name = 'delta';
-- a run is logged once; a status change (no run) each time it happens
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, run_id, last_run_at)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', 'success', 7, '2026-01-01 03:00+00');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, run_id, last_run_at)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', 'failed', 7, '2026-01-01 03:00+00');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	VALUES ('alpha', 'pg_cron', 'nightly-vacuum', 'missed'), ('alpha', 'pg_cron', 'nightly-vacuum', 'missed');
SELECT status, run_id FROM supamon.job_health_log ORDER BY id;
-- the trigger function is not for calling
SELECT has_function_privilege('public', 'supamon.job_history_follows()', 'EXECUTE') AS public_may_call;

-- Removing a project removes its inventory and history.
DELETE FROM supamon.project WHERE name = 'alpha';
SELECT (SELECT count(*) FROM supamon.job_inventory) AS jobs,
	   (SELECT count(*) FROM supamon.job_health_log) AS log_rows;

DROP EXTENSION supamon;
SELECT count(*) AS leftovers
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'supamon';
SELECT count(*) AS schema_left FROM pg_namespace WHERE nspname = 'supamon';
