-- After an outage, no echo: runs missed while the project was unreachable
-- are told in its recovery message, not alerted one by one afterwards.
-- The project is this very database with pg_cron's tables written by hand.
CREATE EXTENSION supamon;
SET timezone = 'UTC';
SET client_min_messages = warning;
\i test/regress_cron.sql
CREATE FUNCTION add_job(name text, sched text) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO cron.job (schedule, command, jobname) VALUES (sched, 'SELECT 1', name) $$;
CREATE FUNCTION add_run(name text, started timestamptz) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, 'succeeded', '1 row', started, started + interval '1 second'
	FROM cron.job WHERE jobname = name $$;
INSERT INTO supamon.alert_config (name, channel, webhook_url)
	VALUES ('hook', 'webhook', 'http://127.0.0.1:9/not-used-by-this-test');

-- The project was unreachable for the last 9 minutes: an every-5-minutes job
-- last ran just before, so its fires inside the outage had no run.
SELECT supamon_add_project('thordata');
UPDATE supamon.project SET status = 'unreachable', status_since = now() - interval '9 minutes',
	last_alerted_at = now() - interval '9 minutes';
SELECT add_job('p2-every-5', '*/5 * * * *');
SELECT add_run('p2-every-5', supamon_prev_run('*/5 * * * *', now() - interval '9 minutes') + interval '1 second');
SELECT add_job('every-minute', '* * * * *');
SELECT add_run('every-minute', now() - interval '10 seconds');

SELECT s ->> 'alerts_queued' AS queued, s ->> 'missed' AS missed FROM supamon_check_health() s;
-- one alert: the recovery, naming what was missed during the outage
SELECT event, job_name, message ~ '^project thordata recovered: .*; during the outage p2-every-5 missed \d{4}-\d\d-\d\d \d\d:\d\d UTC$' AS says_missed,
	   details ->> 'during_outage' ~ '^p2-every-5 missed ' AS detail
FROM supamon.alert_outbox ORDER BY id;
SELECT name, status FROM supamon.job_status ORDER BY name;
SELECT outage_until > outage_from AS window_kept FROM supamon.project;

-- Checks that follow send nothing for it: the user was told.
SELECT s ->> 'alerts_queued' AS queued FROM supamon_check_health() s;

-- A fire missed after the outage is alerted as usual.
DELETE FROM cron.job WHERE jobname = 'p2-every-5';
UPDATE supamon.project SET outage_from = now() - interval '40 minutes', outage_until = now() - interval '30 minutes';
SELECT add_job('after-outage', '*/5 * * * *');
SELECT add_run('after-outage', supamon_prev_run('*/5 * * * *', now() - interval '14 minutes') + interval '1 second');
SELECT s ->> 'alerts_queued' AS queued FROM supamon_check_health() s;
SELECT event, job_name FROM supamon.alert_outbox WHERE event <> 'recovered' ORDER BY id;

-- An interval job whose miss was the outage's, still not running long after
-- it: that is news, alerted once.
DELETE FROM cron.job WHERE jobname = 'after-outage';
UPDATE supamon.project SET outage_from = now() - interval '20 minutes', outage_until = now() - interval '10 minutes';
SELECT add_job('every-30-seconds', '30 seconds');
SELECT add_run('every-30-seconds', now() - interval '19 minutes');
SELECT s ->> 'alerts_queued' AS queued FROM supamon_check_health() s;
SELECT event, job_name FROM supamon.alert_outbox WHERE job_name = 'every-30-seconds';
-- and one still inside its outage (it ended a moment ago) is not
UPDATE supamon.project SET outage_from = now() - interval '20 minutes', outage_until = now() - interval '5 seconds';
SELECT add_job('every-50-seconds', '50 seconds');
SELECT add_run('every-50-seconds', now() - interval '15 minutes');
SELECT s ->> 'alerts_queued' AS queued FROM supamon_check_health() s;
SELECT name, status FROM supamon.job_status WHERE name = 'every-50-seconds';

DROP EXTENSION supamon;
DROP SCHEMA cron CASCADE;
DROP FUNCTION add_job, add_run;
