-- supamon 0.3.0: the collector (SPEC sections 2, 3, 8, 9).
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.3.0'" to load this file. \quit

-- What the last collection learned about each project.
ALTER TABLE supamon.project
	ADD COLUMN last_check_ms integer,				-- how long it took
	ADD COLUMN remote_now timestamptz,				-- the project's own clock then
	ADD COLUMN cron_timezone text,					-- NULL before pg_cron 1.5
	ADD COLUMN pg_cron_version text,				-- NULL when not visible
	ADD COLUMN cron_log_run boolean,
	ADD COLUMN scheduler_running boolean,			-- NULL when not visible
	ADD COLUMN run_high_water bigint,				-- the highest runid read
	ADD COLUMN open_run_ids bigint[] NOT NULL DEFAULT '{}',	-- runs seen unfinished
	ADD COLUMN history_bootstrapped_at timestamptz;	-- history read from scratch

-- Each job's latest run and runs in progress, so that deciding its health
-- needs no second remote query.
ALTER TABLE supamon.job_inventory
	ADD COLUMN username text,						-- the pg_cron job's owner
	ADD COLUMN database text,						-- where it runs
	ADD COLUMN last_run_id bigint,					-- latest finished run
	ADD COLUMN last_run_status text,
	ADD COLUMN last_run_started_at timestamptz,
	ADD COLUMN last_run_ended_at timestamptz,
	ADD COLUMN last_run_message text,
	ADD COLUMN last_start_at timestamptz,			-- latest start of any run
	ADD COLUMN running_since timestamptz,			-- oldest run in progress
	ADD COLUMN running_status text,
	ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;

-- A row per observed run (run_id set) or status change (run_id NULL).
ALTER TABLE supamon.job_health_log
	ADD COLUMN run_id bigint,
	ADD COLUMN run_ended_at timestamptz;
-- A run is logged once, even if read again.
CREATE UNIQUE INDEX job_health_log_run_idx ON supamon.job_health_log
	(project_name, job_type, job_name, run_id, coalesce(last_run_at, '-infinity'))
	WHERE run_id IS NOT NULL;

GRANT SELECT (last_check_ms, remote_now, cron_timezone, pg_cron_version, cron_log_run,
			  scheduler_running, run_high_water, history_bootstrapped_at)
	ON supamon.project TO pg_monitor;

CREATE FUNCTION @extschema@.supamon_add_project(name text, conninfo text DEFAULT NULL,
												supabase_ref text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'supamon_add_project'
LANGUAGE C;

CREATE FUNCTION @extschema@.supamon_remove_project(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'supamon_remove_project'
LANGUAGE C;

-- Discovery only: every enabled project (or the one named), concurrently.
CREATE FUNCTION @extschema@.supamon_audit(project text DEFAULT NULL)
RETURNS TABLE (project text, reachable boolean, jobs integer, new_jobs integer,
			   removed_jobs integer, runs_read integer, error text, elapsed_ms integer)
AS 'MODULE_PATHNAME', 'supamon_audit'
LANGUAGE C;

-- These read secrets and reach other servers: the owner's, not PUBLIC's.
REVOKE ALL ON FUNCTION @extschema@.supamon_add_project(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.supamon_remove_project(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.supamon_audit(text) FROM PUBLIC;
