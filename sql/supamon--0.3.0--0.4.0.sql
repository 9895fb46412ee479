-- supamon 0.4.0: health decisions, transitions, views (SPEC sections 3 and 5).
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.4.0'" to load this file. \quit

ALTER TABLE supamon.job_inventory
	ADD COLUMN status text NOT NULL DEFAULT 'unknown'
		CONSTRAINT job_inventory_status_check
		CHECK (status IN ('success', 'failed', 'missed', 'stuck', 'unknown', 'paused', 'removed')),
	ADD COLUMN status_since timestamptz,
	ADD COLUMN status_reason text,
	ADD COLUMN last_alerted_at timestamptz,		-- the last alert or reminder queued
	ADD COLUMN next_expected_at timestamptz,
	-- user: how many failed runs in a row before "failed" alerts
	ADD COLUMN failure_threshold integer NOT NULL DEFAULT 1
		CONSTRAINT job_inventory_failure_threshold_check CHECK (failure_threshold >= 1),
	-- user: how long a run may take before it is "stuck" (default from the schedule)
	ADD COLUMN max_runtime interval
		CONSTRAINT job_inventory_max_runtime_check CHECK (max_runtime > interval '0');

ALTER TABLE supamon.project
	ADD COLUMN status text NOT NULL DEFAULT 'ok'
		CONSTRAINT project_status_check CHECK (status IN ('ok', 'unreachable', 'scheduler_down')),
	ADD COLUMN status_since timestamptz,
	ADD COLUMN last_alerted_at timestamptz,
	ADD COLUMN health_note text;				-- what the check had to assume

-- What an alert is about, for whoever formats it.
ALTER TABLE supamon.alert_outbox
	ADD COLUMN details jsonb;

GRANT SELECT (status, status_since, last_alerted_at, health_note) ON supamon.project TO pg_monitor;

-- One row per job, as users look at it.
CREATE VIEW supamon.job_status AS
SELECT j.project_name AS project,
	   j.job_type AS type,
	   j.job_name AS name,
	   j.schedule,
	   j.criticality,
	   j.status,
	   j.status_since AS since,
	   j.status_reason AS reason,
	   j.last_run_started_at AS last_run_at,
	   j.last_run_status,
	   CASE WHEN j.last_run_status = 'failed' THEN
		   left(btrim(regexp_replace(j.last_run_message, '\s+', ' ', 'g')), 300) END AS last_error,
	   j.next_expected_at,
	   j.consecutive_failures,
	   j.running_since
FROM supamon.job_inventory j;

-- One row per project, with its jobs counted by status.  No secrets.
CREATE VIEW supamon.project_status AS
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
	   count(j.job_name) FILTER (WHERE j.status <> 'removed') AS jobs,
	   count(j.job_name) FILTER (WHERE j.status = 'success') AS healthy,
	   count(j.job_name) FILTER (WHERE j.status = 'failed') AS failed,
	   count(j.job_name) FILTER (WHERE j.status = 'missed') AS missed,
	   count(j.job_name) FILTER (WHERE j.status = 'stuck') AS stuck,
	   count(j.job_name) FILTER (WHERE j.status = 'unknown') AS unknown,
	   count(j.job_name) FILTER (WHERE j.status = 'paused') AS paused,
	   count(j.job_name) FILTER (WHERE j.status = 'removed') AS removed
FROM supamon.project p
LEFT JOIN supamon.job_inventory j ON j.project_name = p.name
GROUP BY p.name;

REVOKE ALL ON supamon.job_status, supamon.project_status FROM PUBLIC;
GRANT SELECT ON supamon.job_status, supamon.project_status TO pg_monitor;

-- Collect, decide, record transitions and queue alerts, in one transaction.
CREATE FUNCTION @extschema@.supamon_check_health(project text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'supamon_check_health'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.supamon_check_health(text) FROM PUBLIC;
