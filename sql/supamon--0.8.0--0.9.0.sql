-- supamon 0.9.0: per-job settings through a function that checks them, and
-- a default criticality per project (optionally by name pattern) for the
-- jobs and Edge Functions discovered later.
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.9.0'" to load this file. \quit

-- The criticality a job or function gets when it is first discovered.
-- job_pattern NULL: every job of the project; '%' is its only wildcard.  Of
-- several rules that match, the longest pattern wins, the project's own last.
CREATE TABLE supamon.criticality_default (
	id bigserial PRIMARY KEY,
	project_name text NOT NULL
		REFERENCES supamon.project (name) ON UPDATE CASCADE ON DELETE CASCADE,
	job_pattern text
		CONSTRAINT criticality_default_pattern_check CHECK (job_pattern <> ''),
	criticality text NOT NULL
		CONSTRAINT criticality_default_criticality_check
		CHECK (criticality IN ('critical', 'important', 'low')),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT criticality_default_unique UNIQUE NULLS NOT DISTINCT (project_name, job_pattern)
);
GRANT SELECT ON supamon.criticality_default TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('supamon.criticality_default', '');
SELECT pg_catalog.pg_extension_config_dump('supamon.criticality_default_id_seq', '');

CREATE FUNCTION @extschema@.supamon_set_default_criticality(project text, criticality text,
															 job_pattern text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM supamon.project p WHERE p.name = supamon_set_default_criticality.project) THEN
		RAISE EXCEPTION 'supamon: no project "%"', project USING ERRCODE = 'undefined_object';
	END IF;
	IF job_pattern = '' THEN
		RAISE EXCEPTION 'supamon: an empty job pattern matches nothing'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'NULL sets the project''s default.';
	END IF;
	IF criticality IS NULL THEN
		DELETE FROM supamon.criticality_default d
		WHERE d.project_name = supamon_set_default_criticality.project
		  AND d.job_pattern IS NOT DISTINCT FROM supamon_set_default_criticality.job_pattern;
		RETURN;
	END IF;
	IF criticality NOT IN ('critical', 'important', 'low') THEN
		RAISE EXCEPTION 'supamon: criticality "%" is not one of critical, important, low', criticality
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO supamon.criticality_default AS d (project_name, job_pattern, criticality)
	VALUES (project, job_pattern, criticality)
	ON CONFLICT ON CONSTRAINT criticality_default_unique
	DO UPDATE SET criticality = EXCLUDED.criticality;
END $$;

-- What the user sets on a job, checked first; NULL leaves a setting as it
-- is.  A name that is both a pg_cron job and an Edge Function needs job_type.
CREATE FUNCTION @extschema@.supamon_set_job(project text, job text,
											criticality text DEFAULT NULL,
											grace interval DEFAULT NULL,
											failure_threshold integer DEFAULT NULL,
											max_runtime interval DEFAULT NULL,
											description text DEFAULT NULL,
											success_criteria text DEFAULT NULL,
											job_type text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	types text[];
BEGIN
	IF NOT EXISTS (SELECT FROM supamon.project p WHERE p.name = supamon_set_job.project) THEN
		RAISE EXCEPTION 'supamon: no project "%"', project USING ERRCODE = 'undefined_object';
	END IF;
	SELECT array_agg(j.job_type ORDER BY j.job_type) INTO types FROM supamon.job_inventory j
	WHERE j.project_name = supamon_set_job.project AND j.job_name = supamon_set_job.job
	  AND (supamon_set_job.job_type IS NULL OR j.job_type = supamon_set_job.job_type);
	IF types IS NULL THEN
		RAISE EXCEPTION 'supamon: no % "%" in project "%"', coalesce(job_type, 'job'), job, project
			USING ERRCODE = 'undefined_object', HINT = 'See supamon.job_status.';
	END IF;
	IF cardinality(types) > 1 THEN
		RAISE EXCEPTION 'supamon: "%" of project "%" is both a pg_cron job and an Edge Function', job, project
			USING ERRCODE = 'ambiguous_parameter', HINT = 'Say which with job_type => ''pg_cron'' or ''edge_function''.';
	END IF;
	IF criticality IS NOT NULL AND criticality NOT IN ('critical', 'important', 'low') THEN
		RAISE EXCEPTION 'supamon: criticality "%" is not one of critical, important, low', criticality
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- whole seconds to a week, no months (a month is no fixed length)
	IF grace IS NOT NULL AND (grace < interval '0' OR grace > interval '7 days'
							  OR extract(month FROM grace) <> 0 OR extract(year FROM grace) <> 0) THEN
		RAISE EXCEPTION 'supamon: grace % is not from 0 to 7 days', grace
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF max_runtime IS NOT NULL AND (max_runtime <= interval '0' OR max_runtime > interval '7 days'
									OR extract(month FROM max_runtime) <> 0 OR extract(year FROM max_runtime) <> 0) THEN
		RAISE EXCEPTION 'supamon: max_runtime % is not above 0 and at most 7 days', max_runtime
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF failure_threshold IS NOT NULL AND (failure_threshold < 1 OR failure_threshold > 1000) THEN
		RAISE EXCEPTION 'supamon: failure_threshold % is not from 1 to 1000', failure_threshold
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE supamon.job_inventory j SET
		criticality = coalesce(supamon_set_job.criticality, j.criticality),
		grace = coalesce(supamon_set_job.grace, j.grace),
		failure_threshold = coalesce(supamon_set_job.failure_threshold, j.failure_threshold),
		max_runtime = coalesce(supamon_set_job.max_runtime, j.max_runtime),
		description = coalesce(supamon_set_job.description, j.description),
		success_criteria = coalesce(supamon_set_job.success_criteria, j.success_criteria),
		updated_at = now()
	WHERE j.project_name = supamon_set_job.project AND j.job_name = supamon_set_job.job
	  AND j.job_type = types[1];
END $$;

REVOKE ALL ON FUNCTION @extschema@.supamon_set_default_criticality(text, text, text),
	@extschema@.supamon_set_job(text, text, text, interval, integer, interval, text, text, text) FROM PUBLIC;

-- job_status: what a user checks (README: WHERE status NOT IN ('success',
-- 'paused')) shows the jobs of a project that does not answer.
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
	   j.status AS last_known_status
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


-- The check, scheduled with pg_cron: one job named supamon-check (pg_cron's
-- cron.schedule changes a job of that name in place).  pg_cron lives in one
-- database (cron.database_name): from any other, the ERROR says what to run
-- there.
CREATE FUNCTION @extschema@.supamon_schedule(cron text DEFAULT '* * * * *')
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
			RAISE EXCEPTION 'supamon: pg_cron lives in database "%", not in "%"', cron_db, current_database()
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = format('In database %I run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
									cron_db, 'supamon-check', cron, command, current_database());
		END IF;
		RAISE EXCEPTION 'supamon: pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'CREATE EXTENSION pg_cron (preloaded, with cron.database_name set to this database), or run SELECT supamon_check_health() from another scheduler every minute.';
	END IF;
	-- dynamic: "cron" is also this function's parameter
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING 'supamon-check', cron, command;
	RETURN id;
END $$;

CREATE FUNCTION @extschema@.supamon_unschedule()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'supamon: pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'supamon-check' AND username = current_user) THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING 'supamon-check';
	RETURN true;
END $$;

REVOKE ALL ON FUNCTION @extschema@.supamon_schedule(text), @extschema@.supamon_unschedule() FROM PUBLIC;
