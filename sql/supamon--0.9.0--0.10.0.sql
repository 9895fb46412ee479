-- supamon 0.10.0: watching the watcher (what each check did, checks that
-- stopped completing, the heartbeat, the summary) and each job's run strip.
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.10.0'" to load this file. \quit

-- What the worker told about the checks themselves: one row.  stale_since:
-- the last completed check the stale alert named (NULL: none told);
-- summary_at: the fire time of the last summary.
CREATE TABLE supamon.watch (
	one boolean PRIMARY KEY DEFAULT true CONSTRAINT watch_one_row CHECK (one),
	stale_since timestamptz,
	stale_told_at timestamptz,
	summary_at timestamptz
);
INSERT INTO supamon.watch DEFAULT VALUES;
GRANT SELECT ON supamon.watch TO pg_monitor;

-- Each job's newest outcomes, one mark each, oldest first; and the last
-- missed fire marked in them.
ALTER TABLE supamon.job_inventory
	ADD COLUMN run_strip text,
	ADD COLUMN strip_missed_upto timestamptz;

-- The run that running_since is of: a run not started yet (no start_time)
-- counts from when it was first seen, not from an earlier run's start.
ALTER TABLE supamon.job_inventory ADD COLUMN running_run_id bigint;

-- The checks as this server saw them (shared memory: kept across rolled
-- back checks, lost at a restart; NULLs without preloading).
CREATE FUNCTION @extschema@.supamon_check_state(
	OUT last_started_at timestamptz,
	OUT last_started_pid integer,
	OUT last_completed_at timestamptz,
	OUT last_completed_ms bigint,
	OUT checks_completed bigint,
	OUT last_raised_at timestamptz,
	OUT last_raised_ms bigint,
	OUT last_raised_project text,
	OUT last_raised_error text,
	OUT last_heartbeat_at timestamptz,
	OUT last_heartbeat_error text,
	OUT worker_running boolean)
RETURNS record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'supamon_check_state';
REVOKE ALL ON FUNCTION @extschema@.supamon_check_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.supamon_check_state() TO pg_monitor;

-- Is supamon itself working: one row.
CREATE VIEW supamon.check_status AS
SELECT s.last_started_at,
	   s.last_completed_at,
	   pg_catalog.make_interval(secs => s.last_completed_ms / 1000.0) AS last_duration,
	   s.checks_completed,
	   s.last_raised_at,
	   pg_catalog.make_interval(secs => s.last_raised_ms / 1000.0) AS last_raised_after,
	   s.last_raised_project,
	   s.last_raised_error,
	   (SELECT pg_catalog.max(p.last_check_at) FROM supamon.project p WHERE p.enabled) AS last_project_check_at,
	   w.stale_since IS NOT NULL AS stale,
	   w.stale_since,
	   w.stale_told_at,
	   s.last_heartbeat_at,
	   s.last_heartbeat_error,
	   w.summary_at AS last_summary_at,
	   s.worker_running
FROM @extschema@.supamon_check_state() s
CROSS JOIN supamon.watch w;
REVOKE ALL ON supamon.check_status FROM PUBLIC;
GRANT SELECT ON supamon.check_status TO pg_monitor;

-- job_status: the run strip.
CREATE OR REPLACE VIEW supamon.job_status AS
SELECT j.project_name AS project,
	   j.job_type AS type,
	   j.job_name AS name,
	   j.schedule,
	   j.criticality,
	   -- a job of a project that does not answer is not known to be fine:
	   -- shown as its project is, its last known status beside it
	   CASE WHEN j.job_type = 'pg_cron' AND p.status IN ('unreachable', 'paused')
				 AND j.status NOT IN ('removed', 'paused') THEN p.status ELSE j.status END AS status,
	   CASE WHEN j.job_type = 'pg_cron' AND p.status IN ('unreachable', 'paused')
				 AND j.status NOT IN ('removed', 'paused') THEN p.status_since ELSE j.status_since END AS since,
	   j.status_reason AS reason,
	   j.last_run_started_at AS last_run_at,
	   j.last_run_status,
	   CASE WHEN j.last_run_status = 'failed' THEN
		   pg_catalog.left(pg_catalog.btrim(pg_catalog.regexp_replace(j.last_run_message, '\s+', ' ', 'g')), 300)
			WHEN j.http_outcome IN ('failed', 'timed_out', 'error') THEN j.http_error
	   END AS last_error,
	   j.next_expected_at,
	   j.consecutive_failures,
	   j.running_since,
	   sl.until AS silenced_until,
	   sl.reason AS silence_reason,
	   (j.acked_at IS NOT NULL AND j.acked_at >= j.status_since) AS acknowledged,
	   CASE WHEN j.acked_at >= j.status_since THEN j.ack_reason END AS ack_reason,
	   coalesce(j.calls_function, j.calls_url) AS calls,
	   j.http_status AS last_http_status,
	   j.function_version,
	   j.requests,
	   j.server_errors,
	   j.status AS last_known_status,
	   -- the newest outcomes last: a finished run that succeeded or failed, a missed fire
	   j.run_strip AS recent
FROM supamon.job_inventory j
JOIN supamon.project p ON p.name = j.project_name
-- what supamon_silenced() says, read with the view's (owner's) privileges, so
-- that a role granted job_status alone reads it and no one else reads reasons
LEFT JOIN LATERAL (
	SELECT CASE WHEN s.kind = 'silence' THEN s.until
				ELSE @extschema@.supamon_prev_run(s.schedule, now(), z.zone) OPERATOR(pg_catalog.+) s.duration
		   END AS until,
		   s.reason
	FROM supamon.silence s
	JOIN supamon.project p ON p.name = s.project_name
	CROSS JOIN LATERAL (SELECT @extschema@.supamon_time_zone(coalesce(s.tz, p.cron_timezone)) AS zone) z
	WHERE s.project_name = j.project_name
	  AND (s.job_pattern IS NULL OR
		   j.job_name LIKE pg_catalog.replace(pg_catalog.replace(s.job_pattern, '\', '\\'), '_', '\_'))
	  AND now() >= s.created_at
	  AND CASE WHEN s.kind = 'silence' THEN now() < s.until
			   ELSE now() < @extschema@.supamon_prev_run(s.schedule, now(), z.zone) OPERATOR(pg_catalog.+) s.duration
		  END
	ORDER BY s.id
	LIMIT 1) sl ON true;

-- project_status: how long the project took to answer (connection and
-- reads) in its last check.  (What checks raised is in check_status: a
-- call of supamon_check_state() here would need pg_monitor of every role
-- that reads this view.)
CREATE OR REPLACE VIEW supamon.project_status AS
SELECT p.name AS project,
	   p.enabled,
	   p.reachable,
	   p.status,
	   p.status_since AS since,
	   p.last_check_at,
	   p.last_success_at,
	   p.last_error,
	   p.pg_cron_version,
	   p.cron_timezone,
	   p.scheduler_running,
	   p.health_note,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status <> 'removed') AS jobs,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'success') AS healthy,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'failed') AS failed,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'missed') AS missed,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'stuck') AS stuck,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'unknown') AS unknown,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'paused') AS paused,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'removed') AS removed,
	   p.supabase_status,
	   pg_catalog.count(j.job_name) FILTER (WHERE j.job_type = 'edge_function' AND j.status <> 'removed')
		   AS edge_functions,
	   p.edge_checked_at,
	   p.edge_error,
	   p.pg_net_responses,
	   p.pg_net_failures,
	   p.pg_net_unattributed_failures,
	   p.last_check_ms
FROM supamon.project p
LEFT JOIN supamon.job_inventory j ON j.project_name = p.name
GROUP BY p.name;

-- The check scheduled with a pg_cron that lives in another database
-- (cron.database_name): a short-lived background worker connects there as
-- the calling role and runs cron.schedule_in_database() or
-- cron.unschedule(); its commit is its own.  There the job is named
-- supamon-check@<this database>, so that a supamon in pg_cron's own
-- database keeps its supamon-check.
CREATE FUNCTION supamon.cron_call(cron_db text, jobname text, schedule text, command text,
								  target_db text, unschedule boolean)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'supamon_cron_call';
REVOKE ALL ON FUNCTION supamon.cron_call(text, text, text, text, text, boolean) FROM PUBLIC;

-- supamon-check@<database>; a name too long for pg_cron's 63 bytes is
-- replaced by its md5, so that two long names never share a job.
CREATE FUNCTION supamon.cron_job_name()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN octet_length(current_database()) <= 63 - 14 THEN 'supamon-check@' || current_database()
				ELSE 'supamon-check@' || md5(current_database()) END
$$;
REVOKE ALL ON FUNCTION supamon.cron_job_name() FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.supamon_schedule(cron text DEFAULT '* * * * *')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_db text := current_setting('cron.database_name', true);
	command text := format('SELECT %I.supamon_check_health()',
		(SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		 WHERE e.extname = 'supamon'));
	id bigint;
BEGIN
	-- a schedule pg_cron would refuse, refused here first with the reason
	PERFORM @extschema@.supamon_parse_schedule(cron);
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
		IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
			RETURN supamon.cron_call(cron_db, supamon.cron_job_name(),
									 cron, command, current_database(), false);
		END IF;
		RAISE EXCEPTION 'supamon: pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'CREATE EXTENSION pg_cron (preloaded, with cron.database_name set to this database), or run SELECT supamon_check_health() from another scheduler every minute.';
	END IF;
	-- dynamic: "cron" is also this function's parameter
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING 'supamon-check', cron, command;
	RETURN id;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.supamon_unschedule()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_db text := current_setting('cron.database_name', true);
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
		IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
			RETURN supamon.cron_call(cron_db, supamon.cron_job_name(),
									 NULL, NULL, current_database(), true) = 1;
		END IF;
		RAISE EXCEPTION 'supamon: pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'supamon-check' AND username = current_user) THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING 'supamon-check';
	RETURN true;
END $$;
