-- Silences, acknowledgements and maintenance windows: statuses are decided
-- and shown, alerts held; one alert when a silence ends on a job still bad;
-- a fire inside a window is not missed; bad input refused, nothing written.
-- The project is this very database with pg_cron's tables written by hand.
CREATE EXTENSION supamon;
SET timezone = 'UTC';
SET client_min_messages = warning;
\i test/regress_cron.sql
CREATE FUNCTION add_job(name text, sched text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job (schedule, command, jobname) VALUES (sched, 'SELECT 1', name) $$;
CREATE FUNCTION add_run(name text, status text, started timestamptz) RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, status, CASE status WHEN 'failed' THEN 'ERROR:  boom' ELSE '1 row' END,
		started, started + interval '1 second'
	FROM cron.job WHERE jobname = name $$;
CREATE FUNCTION queued() RETURNS TABLE (event text, job text) LANGUAGE sql AS $$
	SELECT event, coalesce(job_name, '(project)') FROM supamon.alert_outbox WHERE id > coalesce(
		(SELECT max(id) FROM supamon.alert_outbox WHERE message = 'mark'), 0) ORDER BY id $$;
CREATE FUNCTION mark() RETURNS void LANGUAGE sql AS $$
	INSERT INTO supamon.alert_outbox (channel, event, message, state) VALUES ('webhook', 'mark', 'mark', 'dead') $$;
INSERT INTO supamon.alert_config (name, channel, webhook_url)
	VALUES ('hook', 'webhook', 'http://127.0.0.1:9/not-used-by-this-test');

SELECT supamon_add_project('here');
SELECT add_job('nightly', '0 3 * * *'), add_job('backup-db', '0 3 * * *'), add_job('backup-files', '0 3 * * *'),
	add_job('flaps', '0 3 * * *'), add_job('known-bad', '0 3 * * *');
SELECT supamon_check_health() IS NOT NULL AS discovered;

-- Bad input: a clear error each, nothing written.
\set VERBOSITY terse
SELECT supamon_silence('nowhere', NULL, now() + interval '1 hour', 'x');
SELECT supamon_silence('here', 'no-such-job', now() + interval '1 hour', 'x');
SELECT supamon_silence('here', 'nightly', now() - interval '1 hour', 'in the past');
SELECT supamon_silence('here', 'nightly', NULL, 'no end');
SELECT supamon_silence('here', 'nightly', now() + interval '2 years', 'too far');
SELECT supamon_add_maintenance('here', NULL, '0 2 * * 0', '1 mon', NULL, 'a month is no fixed length');
SELECT supamon_add_maintenance('here', NULL, '0 2 * * 0', '1 microsecond', NULL, 'too short');
SELECT supamon_silence('here', 'nightly', now() + interval '1 hour', '  ');
SELECT supamon_add_maintenance('here', NULL, '61 * * * *', '1 hour', NULL, 'bad schedule');
SELECT supamon_add_maintenance('here', NULL, '30 seconds', '1 hour', NULL, 'not a clock');
SELECT supamon_add_maintenance('here', NULL, '0 2 * * 0', '-1 hour', NULL, 'negative');
SELECT supamon_add_maintenance('here', NULL, '0 2 * * 0', '2 hours', 'Mars/Olympus', 'bad zone');
SELECT supamon_add_maintenance('here', NULL, '0 2 * * 0', '2 hours', NULL, NULL);
SELECT supamon_unsilence(424242);
SELECT supamon_remove_maintenance(424242);
SELECT supamon_ack('here', 'nightly', 'nothing wrong');
SELECT supamon_ack('here', 'nope', 'x');
\set VERBOSITY default
SELECT count(*) AS written FROM supamon.silence;

-- A silenced job: failed, recorded and shown, no alert.
SELECT supamon_silence('here', 'nightly', now() + interval '1 hour', 'migration tonight') > 0 AS silenced;
SELECT supamon_silence('here', 'backup%', now() + interval '1 hour', 'new storage being set up') > 0 AS silenced;
SELECT add_run('nightly', 'failed', now() - interval '1 minute'), add_run('backup-db', 'failed', now() - interval '1 minute'),
	add_run('flaps', 'failed', now() - interval '1 minute');
SELECT supamon_silence('here', 'flaps', now() + interval '1 hour', 'known flaky') > 0 AS silenced;
SELECT mark();
SELECT (supamon_check_health() ->> 'failed')::int AS failed;
SELECT * FROM queued();
SELECT name, status, silenced_until > now() AS silenced, silence_reason FROM supamon.job_status
WHERE name IN ('nightly', 'backup-db', 'backup-files', 'flaps') ORDER BY name;
SELECT project, job, kind, reason, created_by = current_user AS by_me, active FROM supamon.silences ORDER BY id;
-- the view and supamon_silenced() (the check's own code) agree on every job
SELECT count(*) AS disagreements FROM supamon.job_status js
WHERE (js.silence_reason IS NOT DISTINCT FROM (supamon_silenced(js.project, js.name, now())).reason) IS NOT TRUE;

-- The silences end: still bad, one alert each; recovered meanwhile, none.
SELECT add_run('flaps', 'succeeded', now() - interval '30 seconds');
SELECT supamon_check_health() IS NOT NULL AS checked;
UPDATE supamon.silence SET until = now() - interval '1 second' WHERE kind = 'silence';
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT * FROM queued();
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT count(*) AS told_again FROM queued();

-- Acknowledged: no reminders until the status changes; the change alerts.
SELECT add_run('known-bad', 'failed', now() - interval '20 seconds');
SET supamon.repeat_interval = '1s';
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT * FROM queued() WHERE job = 'known-bad';
SELECT supamon_ack('here', 'known-bad', 'fix ships Monday');
SELECT pg_sleep(1.1);
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT count(*) AS reminders FROM queued() WHERE job = 'known-bad';
SELECT acknowledged, ack_reason FROM supamon.job_status WHERE name = 'known-bad';
SELECT add_run('known-bad', 'succeeded', now() - interval '10 seconds');
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT * FROM queued() WHERE job = 'known-bad';
SELECT acknowledged FROM supamon.job_status WHERE name = 'known-bad';
RESET supamon.repeat_interval;

-- A maintenance window open now: failures are not alerted; a fire inside it
-- is not missed.
-- (a daily window that opened half an hour ago, set a day ago: a window
-- excuses nothing from before it was set)
SELECT supamon_add_maintenance('here', NULL,
	format('%s %s * * *', extract(minute FROM now() - interval '30 minutes'), extract(hour FROM now() - interval '30 minutes')),
	'2 hours', 'UTC', 'weekly upgrade') > 0 AS window;
UPDATE supamon.silence SET created_at = now() - interval '1 day' WHERE reason = 'weekly upgrade';
SELECT add_job('every-5', '*/5 * * * *');
SELECT add_run('every-5', 'succeeded', supamon_prev_run('*/5 * * * *', now() - interval '12 minutes') + interval '1 second');
SELECT add_run('nightly', 'failed', now() - interval '5 seconds');
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT * FROM queued();
SELECT name, status, reason ~ 'fell in a maintenance window \(weekly upgrade\)' AS in_window
FROM supamon.job_status WHERE name = 'every-5';

-- A window excuses only its own fires: an earlier fire outside it, with no
-- run, is still missed.
DELETE FROM supamon.silence WHERE reason = 'weekly upgrade';
SELECT add_job('hourly-stopped', '0 * * * *');
SELECT add_run('hourly-stopped', 'succeeded', supamon_prev_run('0 * * * *', now() - interval '31 minutes') - interval '2 hours' + interval '1 second');
SELECT supamon_check_health() IS NOT NULL AS discovered;
SELECT supamon_add_maintenance('here', 'hourly-stopped',
	format('0 %s * * *', extract(hour FROM supamon_prev_run('0 * * * *', now() - interval '31 minutes') AT TIME ZONE 'UTC')),
	'10 minutes', 'UTC', 'only the latest fire') > 0 AS window;
UPDATE supamon.silence SET created_at = now() - interval '1 day' WHERE reason = 'only the latest fire';
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT status, reason !~ 'fell in a maintenance window \(' AS not_excused
FROM supamon.job_status WHERE name = 'hourly-stopped';
-- nor a window set after the miss: nothing is excused after the fact
SELECT add_job('daily-stopped', '0 3 * * *');
SELECT add_run('daily-stopped', 'succeeded', supamon_prev_run('0 3 * * *', now()) - interval '2 days');
SELECT supamon_check_health() IS NOT NULL AS discovered;
SELECT supamon_add_maintenance('here', 'daily-stopped', '0 3 * * *', '1 hour', 'UTC', 'added after the miss') > 0 AS window;
SELECT mark();
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT status FROM supamon.job_status WHERE name = 'daily-stopped';
SELECT count(*) AS recovered_falsely FROM queued() WHERE job = 'daily-stopped';
-- and a job that never runs is missed whatever window covers its fires
UPDATE supamon.silence SET created_at = now() - interval '30 days' WHERE reason = 'added after the miss';
SELECT supamon_check_health() IS NOT NULL AS checked;
SELECT status FROM supamon.job_status WHERE name = 'daily-stopped';

-- An outage inside a window is not alerted; after the window, one alert.
SELECT supamon_add_project('down', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2');
SELECT supamon_add_maintenance('down', NULL, '* * * * *', '1 hour', NULL, 'host rebuilt') > 0 AS window;
SELECT mark();
SELECT (supamon_check_health('down') ->> 'unreachable_projects')::int AS unreachable;
SELECT * FROM queued();
-- (told even with reminders off: it was never told)
SET supamon.repeat_interval = 0;
SELECT supamon_remove_maintenance(id) FROM supamon.silence WHERE project_name = 'down';
SELECT mark();
SELECT (supamon_check_health('down') ->> 'unreachable_projects')::int AS unreachable;
SELECT * FROM queued();

SELECT mark();
SELECT (supamon_check_health('down') ->> 'unreachable_projects')::int AS unreachable;
SELECT count(*) AS told_again FROM queued();
RESET supamon.repeat_interval;

-- One check of every project: a check learns once which projects have a
-- silence or window; the one with a window is held, the one without is told,
-- and one whose only silence is over is told too.
SELECT supamon_add_project('gone-held', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2'),
	supamon_add_project('gone-told', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2'),
	supamon_add_project('gone-over', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2');
SELECT supamon_add_maintenance('gone-held', NULL, '* * * * *', '1 hour', NULL, 'rebuilt') > 0 AS window;
SELECT supamon_silence('gone-over', NULL, now() + interval '1 hour', 'was rebuilt') > 0 AS silenced;
UPDATE supamon.silence SET until = now() - interval '1 second' WHERE reason = 'was rebuilt';
SELECT mark();
SELECT (supamon_check_health() ->> 'unreachable_projects')::int AS unreachable;
SELECT project_name, event FROM supamon.alert_outbox
WHERE id > (SELECT max(id) FROM supamon.alert_outbox WHERE message = 'mark') AND job_name IS NULL
ORDER BY project_name;
SELECT name, status FROM supamon.project WHERE name LIKE 'gone-%' ORDER BY name;

-- A silence without end, or a window off the clock, cannot be written, even
-- by hand; a project's zone PostgreSQL does not know is GMT in the views.
\set VERBOSITY terse
INSERT INTO supamon.silence (project_name, kind, until, reason) VALUES ('here', 'silence', 'infinity', 'forever');
INSERT INTO supamon.silence (project_name, kind, schedule, duration, reason) VALUES ('here', 'maintenance', '30 seconds', '1 hour', 'x');
INSERT INTO supamon.silence (project_name, kind, schedule, duration, reason) VALUES ('here', 'maintenance', '61 * * * *', '1 hour', 'x');
\set VERBOSITY default
UPDATE supamon.project SET cron_timezone = 'Mars/Olympus' WHERE name = 'down';
SELECT supamon_add_maintenance('down', NULL, '0 2 * * 0', '1 hour', NULL, 'zone from the project') > 0 AS window;
SELECT tz, next_window IS NOT NULL AS has_next FROM supamon.silences WHERE project = 'down';

-- A weekly window in a zone with DST opens when pg_cron's clock says:
-- Sundays 02:00 Berlin time, for two hours (01:00 UTC in winter, 00:00 in summer;
-- on the Sunday clocks spring forward, 02:00 never happens there: pg_cron does
-- not fire, and the window does not open).
SELECT supamon_add_maintenance('here', 'nightly', '0 2 * * 0', '2 hours', 'Europe/Berlin', 'Sunday patching') > 0 AS window;
UPDATE supamon.silence SET created_at = '2026-01-01 00:00+00' WHERE reason = 'Sunday patching';
DELETE FROM supamon.silence WHERE reason <> 'Sunday patching';
SELECT t AS at_utc, (supamon_silenced('here', 'nightly', t)).until AS open_until
FROM unnest(ARRAY['2026-11-01 00:59:59+00', '2026-11-01 01:00:00+00', '2026-11-01 02:59:59+00',
				  '2026-11-01 03:00:00+00', '2026-07-05 00:00:00+00', '2026-07-05 01:59:59+00',
				  '2026-07-05 02:00:00+00', '2026-03-29 00:59:59+00', '2026-03-29 01:30:00+00',
				  '2026-03-29 02:30:00+00']::timestamptz[]) t;
-- the same as the schedule engine's previous fire, plus the duration
SELECT bool_and((supamon_silenced('here', 'nightly', t)).until IS NOT DISTINCT FROM
	CASE WHEN t < supamon_prev_run('0 2 * * 0', t, 'Europe/Berlin') + interval '2 hours'
		 THEN supamon_prev_run('0 2 * * 0', t, 'Europe/Berlin') + interval '2 hours' END) AS as_engine
FROM generate_series('2026-01-01'::timestamptz, '2026-12-31', interval '37 minutes') t;
SELECT (supamon_silenced('here', 'backup-db', '2026-11-01 01:30:00+00')).until IS NULL AS other_job_not_held;

DROP EXTENSION supamon;
DROP SCHEMA cron CASCADE;
DROP FUNCTION add_job, add_run, queued, mark;
