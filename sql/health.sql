-- Health decisions: each status from run histories written relative to now,
-- transitions, alerts queued with them, reminders, retention.  The project
-- is this very database (conninfo NULL) with pg_cron's tables written by
-- hand, so that nothing really runs and every history is exactly as set.
CREATE EXTENSION supamon;
SET timezone = 'UTC';
\i test/regress_cron.sql

-- a job and its runs: (name, schedule, [(status, started ago, message)])
CREATE FUNCTION add_job(name text, sched text, active boolean DEFAULT true) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO cron.job (schedule, command, jobname, active) VALUES (sched, 'SELECT 1', name, active)
	RETURNING jobid $$;
CREATE FUNCTION add_run(name text, status text, started timestamptz, message text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, status, coalesce(message, CASE status WHEN 'succeeded' THEN '1 row' END), started,
		CASE WHEN status IN ('succeeded', 'failed') THEN started + interval '1 second' END
	FROM cron.job WHERE jobname = name $$;
-- statuses without the times in their reasons, nor the seconds a stuck run
-- has been going beyond whole minutes (they depend on how long the test takes)
CREATE VIEW st AS
SELECT name, status, regexp_replace(regexp_replace(reason, '\d{4}-\d\d-\d\d \d\d:\d\d UTC', '<time>', 'g'),
	' \d+ s, allowed', ', allowed') AS reason
FROM supamon.job_status ORDER BY name;

-- Fire times are taken from the schedule engine, so that the histories are
-- right whatever the time of day the test runs.
SELECT add_job('every-minute', '* * * * *');
SELECT add_run('every-minute', 'succeeded', now() - interval '20 seconds');
SELECT add_job('fails', '* * * * *');
SELECT add_run('fails', 'failed', now() - interval '20 seconds', E'ERROR:  division by zero\n');
SELECT add_job('five-minutes-late', '*/5 * * * *');
SELECT add_run('five-minutes-late', 'succeeded', now() - interval '20 minutes');
-- every two hours (the original plan read it as daily)
SELECT add_job('two-hourly', '0 */2 * * *');
SELECT add_run('two-hourly', 'succeeded', supamon_prev_run('0 */2 * * *', now()) + interval '2 seconds');
SELECT add_job('two-hourly-late', '0 */2 * * *');
SELECT add_run('two-hourly-late', 'succeeded', supamon_prev_run('0 */2 * * *', now()) - interval '4 hours' + interval '2 seconds');
-- covering the fire before the latest: the latest is due once its grace is
-- over (set per job below: 3 hours, and none)
SELECT add_job('two-hourly-grace-3h', '0 */2 * * *');
SELECT add_run('two-hourly-grace-3h', 'succeeded', supamon_prev_run('0 */2 * * *', now()) - interval '2 hours' + interval '2 seconds');
SELECT add_job('two-hourly-grace-0', '0 */2 * * *');
SELECT add_run('two-hourly-grace-0', 'succeeded', supamon_prev_run('0 */2 * * *', now()) - interval '2 hours' + interval '2 seconds');
-- working hours, outside them now: not missed
SELECT add_job('working-hours', format('*/5 %s,%s * * *',
	(extract(hour FROM now())::int + 2) % 24, (extract(hour FROM now())::int + 3) % 24));
SELECT add_run('working-hours', 'succeeded',
	supamon_prev_run((SELECT schedule FROM cron.job WHERE jobname = 'working-hours'), now()) + interval '1 second');
-- one weekday, not today: not missed
SELECT add_job('weekly-weekday', format('0 9 * * %s', (extract(dow FROM now())::int + 2) % 7));
SELECT add_run('weekly-weekday', 'succeeded',
	supamon_prev_run((SELECT schedule FROM cron.job WHERE jobname = 'weekly-weekday'), now()) + interval '1 second');
-- the last day of the month
SELECT add_job('month-end', '0 12 $ * *');
SELECT add_run('month-end', 'succeeded', supamon_prev_run('0 12 $ * *', now()) + interval '1 second');
SELECT add_job('month-end-late', '0 12 $ * *');
SELECT add_run('month-end-late', 'succeeded', now() - interval '70 days');
-- day of month OR day of week
SELECT add_job('first-or-monday', '0 0 1 * 1');
SELECT add_run('first-or-monday', 'succeeded', supamon_prev_run('0 0 1 * 1', now()) + interval '1 second');
-- interval schedules
SELECT add_job('half-minute', '30 seconds');
SELECT add_run('half-minute', 'succeeded', now() - interval '10 seconds');
SELECT add_job('half-minute-late', '30 seconds');
SELECT add_run('half-minute-late', 'succeeded', now() - interval '5 minutes');
-- in progress: within its allowed runtime, and far beyond it
SELECT add_job('running', '*/5 * * * *');
SELECT add_run('running', 'succeeded', now() - interval '20 minutes');
SELECT add_run('running', 'running', now() - interval '3 minutes');
SELECT add_job('stuck', '*/5 * * * *');
SELECT add_run('stuck', 'succeeded', now() - interval '3 hours');
-- a row left "connecting" (as after a server restart), two hours ago
SELECT add_run('stuck', 'connecting', now() - interval '2 hours');
-- inactive, never run, a schedule pg_cron rejects
SELECT add_job('paused', '* * * * *', false);
SELECT add_job('brand-new', '0 3 * * *');
SELECT add_job('bad-schedule', '61 * * * *');

SELECT supamon_add_project('thordata');
-- user fields can be set before discovery: it keeps them
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, grace) VALUES
	('thordata', 'pg_cron', 'two-hourly-grace-3h', '3 hours'),
	('thordata', 'pg_cron', 'two-hourly-grace-0', '0');
INSERT INTO supamon.alert_config (channel, criticality, webhook_url)
	VALUES ('discord', 'all', 'http://127.0.0.1:9/not-used-by-this-test');

SELECT s - 'checked_at' AS summary FROM supamon_check_health() s;
SELECT * FROM st;
SELECT name, next_expected_at = supamon_next_run(schedule, now()) AS next_ok
FROM supamon.job_status WHERE name IN ('every-minute', 'month-end', 'working-hours') ORDER BY name;
SELECT name, last_error FROM supamon.job_status WHERE last_error IS NOT NULL;

-- One alert per change into failed, missed or stuck; paused and unknown never alert.
SELECT event, job_name, criticality, channel FROM supamon.alert_outbox ORDER BY job_name, id;

-- A second check with nothing new changes nothing and queues nothing.
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
SELECT count(*) AS transitions FROM supamon.job_health_log WHERE run_id IS NULL;

-- Recovered: a new successful run of the failing job.
SELECT add_run('fails', 'succeeded', now());
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
SELECT status FROM supamon.job_status WHERE name = 'fails';
SELECT event, job_name, message FROM supamon.alert_outbox WHERE event = 'recovered';
-- A run logged already (as by another check of the project at once) is
-- logged once, the other new runs as usual, and the project is recorded
-- without an error.
SELECT add_run('every-minute', 'succeeded', now() - interval '2 seconds'),
	add_run('two-hourly', 'succeeded', now() - interval '1 second');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, run_id, last_run_at, run_ended_at)
SELECT 'thordata', 'pg_cron', 'every-minute', 'success', runid, start_time, end_time
FROM cron.job_run_details WHERE runid = (SELECT max(runid) - 1 FROM cron.job_run_details);
SELECT (s ->> 'unreachable_projects')::int AS unreachable FROM supamon_check_health() s;
SELECT job_name, count(*) AS logged FROM supamon.job_health_log
WHERE run_id >= (SELECT max(runid) - 1 FROM cron.job_run_details) GROUP BY 1 ORDER BY 1;
SELECT reachable, last_error FROM supamon.project WHERE name = 'thordata';
-- A problem nobody was told about (its alert folded into a "scheduler down"
-- one) ends without a recovery of its own.
UPDATE supamon.job_inventory SET status = 'missed', status_since = now() - interval '5 minutes',
	last_alerted_at = NULL WHERE job_name = 'five-minutes-late';
SELECT add_run('five-minutes-late', 'succeeded', now());
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
SELECT status FROM supamon.job_status WHERE name = 'five-minutes-late';

-- A failure threshold: two failures in a row stay below a threshold of three.
UPDATE supamon.job_inventory SET failure_threshold = 3 WHERE job_name = 'every-minute';
SELECT add_run('every-minute', 'failed', now(), 'ERROR:  flaky');
SELECT add_run('every-minute', 'failed', now(), 'ERROR:  flaky');
SELECT (s ->> 'failed')::int AS failed FROM supamon_check_health() s;
SELECT name, status, reason FROM st WHERE name = 'every-minute';
SELECT add_run('every-minute', 'failed', now(), 'ERROR:  flaky');
SELECT (s ->> 'failed')::int AS failed FROM supamon_check_health() s;
SELECT name, status, reason FROM st WHERE name = 'every-minute';

-- Reminders: a problem that stays is alerted again after repeat_interval.
SET supamon.repeat_interval = '1s';
SELECT pg_sleep(1.1);
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
SELECT job_name, message LIKE '%is still%' AS says_still FROM supamon.alert_outbox
WHERE event = 'reminder' ORDER BY job_name;
SET supamon.repeat_interval = 0;
SELECT pg_sleep(1.1);
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
RESET supamon.repeat_interval;

-- Channels filter by criticality: a Telegram channel for critical only.
INSERT INTO supamon.alert_config (channel, criticality, bot_token, chat_id)
	VALUES ('telegram', 'critical', 'not-used', '-100');
UPDATE supamon.job_inventory SET criticality = 'critical' WHERE job_name = 'fails';
SELECT add_run('fails', 'failed', now(), 'ERROR:  again');
SELECT (s ->> 'alerts_queued')::int AS alerts_queued FROM supamon_check_health() s;
SELECT channel, event FROM supamon.alert_outbox WHERE job_name = 'fails' AND event = 'failed' ORDER BY id;

-- A job gone from the project is removed, kept, never alerted.
DELETE FROM cron.job WHERE jobname = 'paused';
SELECT (s ->> 'removed')::int AS removed FROM supamon_check_health() s;
SELECT name, status FROM st WHERE name = 'paused';

-- The health log keeps transitions and runs, not checks, and forgets old rows.
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, collected_at)
	VALUES ('thordata', 'pg_cron', 'fails', 'success', now() - interval '40 days');
SELECT count(*) AS old_rows FROM supamon.job_health_log WHERE collected_at < now() - interval '30 days';
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT count(*) AS old_rows FROM supamon.job_health_log WHERE collected_at < now() - interval '30 days';

-- Project status: a view without secrets.
SELECT project, status, reachable, jobs, healthy, failed, missed, stuck, unknown, paused, removed
FROM supamon.project_status;

-- An unreachable project: one project alert, its jobs keep their status.
SELECT supamon_add_project('gone', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2');
SELECT s ->> 'unreachable_projects' AS unreachable FROM supamon_check_health('gone') s;
SELECT event, job_name IS NULL AS project_alert, message FROM supamon.alert_outbox
WHERE project_name = 'gone';

-- Scheduler down: another database whose cron tables are readable but
-- that no pg_cron launcher serves.  One project alert; its jobs are still
-- decided, and their alerts fold into it.
CREATE DATABASE contrib_regression_idle;
\c contrib_regression_idle
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL,
	command text NOT NULL, nodename text NOT NULL DEFAULT 'localhost',
	nodeport int NOT NULL DEFAULT 5432, database text NOT NULL DEFAULT current_database(),
	username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true,
	jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY,
	job_pid int, database text, username text, command text, status text,
	return_message text, start_time timestamptz, end_time timestamptz);
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'idle-job');
INSERT INTO cron.job_run_details (jobid, status, start_time, end_time)
	VALUES (1, 'succeeded', now() - interval '1 hour', now() - interval '1 hour');
\c contrib_regression
SET timezone = 'UTC';
SELECT supamon_add_project('idle', format('host=%s port=%s dbname=contrib_regression_idle',
	split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT s ->> 'scheduler_down_projects' AS scheduler_down, s ->> 'alerts_queued' AS alerts_queued
FROM supamon_check_health('idle') s;
SELECT project, status, jobs, missed FROM supamon.project_status WHERE project = 'idle';
SELECT name, status, reason FROM st WHERE name = 'idle-job';
SELECT event, job_name FROM supamon.alert_outbox WHERE project_name = 'idle';
SELECT supamon_remove_project('idle');
DROP DATABASE contrib_regression_idle;

DROP VIEW st;
DROP FUNCTION add_job(text, text, boolean);
DROP FUNCTION add_run(text, text, timestamptz, text);
DROP SCHEMA cron CASCADE;
DROP EXTENSION supamon;
