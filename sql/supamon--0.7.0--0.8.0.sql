-- supamon 0.8.0: Edge Functions from the Supabase Management API, projects
-- paused by Supabase, and the pg_cron jobs that call HTTP endpoints through
-- pg_net, judged by what those endpoints answered.
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.8.0'" to load this file. \quit

ALTER TABLE supamon.project
	DROP CONSTRAINT project_status_check,
	ADD CONSTRAINT project_status_check
		CHECK (status IN ('ok', 'unreachable', 'scheduler_down', 'paused')),
	-- what the Management API says of the project (ACTIVE_HEALTHY, INACTIVE...)
	ADD COLUMN supabase_status text,
	-- the Management API's last function list, or why there was none
	ADD COLUMN edge_checked_at timestamptz,
	ADD COLUMN edge_error text,
	ADD COLUMN edge_error_since timestamptz,
	-- the token or the ref was refused and someone was told (once)
	ADD COLUMN edge_refusal_alerted boolean NOT NULL DEFAULT false,
	-- a 429: the API is not asked about this project before then
	ADD COLUMN api_blocked_until timestamptz,
	-- pg_net: whether net._http_response was readable at the last check,
	-- up to when (the project's clock) it was read, and what its responses
	-- of the 5 minutes before said (how many, failed, failed and not told
	-- apart as any job's)
	ADD COLUMN pg_net_readable boolean,
	ADD COLUMN pg_net_read_until timestamptz,
	ADD COLUMN pg_net_responses integer,
	ADD COLUMN pg_net_failures integer,
	ADD COLUMN pg_net_unattributed_failures integer;

GRANT SELECT (supabase_status, edge_checked_at, edge_error, edge_error_since,
			  api_blocked_until, pg_net_responses, pg_net_failures,
			  pg_net_unattributed_failures)
	ON supamon.project TO pg_monitor;

ALTER TABLE supamon.job_inventory
	-- Edge Functions: what the Management API lists, and their recent traffic
	ADD COLUMN function_id text,
	ADD COLUMN function_status text,
	ADD COLUMN function_version integer,
	ADD COLUMN function_updated_at timestamptz,
	ADD COLUMN requests bigint,
	ADD COLUMN server_errors bigint,
	ADD COLUMN client_errors bigint,
	ADD COLUMN stats_at timestamptz,
	ADD COLUMN stats_error text,
	-- pg_cron jobs that call an endpoint through pg_net: the URL (redacted)
	-- and, when it is one of the project's Edge Functions, its slug; the
	-- latest run whose response could be told apart, and that response
	ADD COLUMN calls_url text,
	ADD COLUMN calls_function text,
	ADD COLUMN http_run_id bigint,
	ADD COLUMN http_outcome text
		CONSTRAINT job_inventory_http_outcome_check
		CHECK (http_outcome IN ('ok', 'failed', 'timed_out', 'error')),
	ADD COLUMN http_status integer,
	ADD COLUMN http_error text,
	ADD COLUMN http_checked_at timestamptz;

-- Runs of pg_net-calling jobs whose response is still to be matched (or was
-- matched lately: the runs near another's window decide whether a response
-- can be told apart).  Purged after 15 minutes.
CREATE TABLE supamon.pg_net_run (
	project_name text NOT NULL
		REFERENCES supamon.project (name) ON UPDATE CASCADE ON DELETE CASCADE,
	runid bigint NOT NULL,
	job_id bigint NOT NULL,				-- pg_cron's jobid
	started_at timestamptz NOT NULL,	-- the project's clock
	window_until timestamptz NOT NULL,	-- its response is due by then
	calls integer NOT NULL DEFAULT 1,	-- requests its command makes
	-- what its response was found to be; NULL while it may still come
	verdict text
		CONSTRAINT pg_net_run_verdict_check CHECK (verdict IN ('ok', 'failed', 'unknown')),
	PRIMARY KEY (project_name, runid)
);
GRANT SELECT ON supamon.pg_net_run TO pg_monitor;

CREATE OR REPLACE VIEW supamon.job_status AS
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
	   j.server_errors
FROM supamon.job_inventory j
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
	   p.pg_net_unattributed_failures
FROM supamon.project p
LEFT JOIN supamon.job_inventory j ON j.project_name = p.name
GROUP BY p.name;

-- An Edge Function's problem is acknowledged as a job's is (a pg_cron job
-- and a function of one name: both, where bad).
CREATE OR REPLACE FUNCTION @extschema@.supamon_ack(project text, job text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	statuses text[];
BEGIN
	SELECT array_agg(j.status ORDER BY j.job_type) INTO statuses FROM (
		SELECT j.status, j.job_type FROM supamon.job_inventory j
		WHERE j.project_name = supamon_ack.project AND j.job_name = supamon_ack.job
		FOR UPDATE) j;
	IF statuses IS NULL THEN
		RAISE EXCEPTION 'supamon: no job "%" in project "%"', job, project USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT statuses && ARRAY['failed', 'missed', 'stuck'] THEN
		RAISE EXCEPTION 'supamon: job "%" of project "%" is %: nothing to acknowledge', job, project,
			array_to_string(statuses, ', ')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- the clock, not the transaction's start: a status that changed while
	-- this waited for the row is not the one acknowledged
	UPDATE supamon.job_inventory j SET acked_at = clock_timestamp(), ack_reason = reason, acked_by = current_user
	WHERE j.project_name = supamon_ack.project AND j.job_name = supamon_ack.job
	  AND j.status IN ('failed', 'missed', 'stuck');
END $$;
