-- supamon 0.7.0: silences, acknowledgements and maintenance windows.
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.7.0'" to load this file. \quit

-- "Not now": a one-off silence until a time, or a maintenance window that
-- opens at each fire of a pg_cron schedule for a duration.  job_pattern NULL:
-- the whole project; '%' is its only wildcard.
CREATE TABLE supamon.silence (
	id bigserial PRIMARY KEY,
	project_name text NOT NULL
		REFERENCES supamon.project (name) ON UPDATE CASCADE ON DELETE CASCADE,
	job_pattern text,
	kind text NOT NULL
		CONSTRAINT silence_kind_check CHECK (kind IN ('silence', 'maintenance')),
	until timestamptz
		CONSTRAINT silence_until_check CHECK (until < 'infinity'),
	-- a window opens on the clock: pg_cron's language, no interval schedules
	schedule text
		CONSTRAINT silence_schedule_check
		CHECK (schedule IS NULL OR (@extschema@.supamon_parse_schedule(schedule) ->> 'kind') = 'cron'),
	-- whole seconds to a month, in days: what the check and the views
	-- count alike (a "1 mon" is no fixed length)
	duration interval
		CONSTRAINT silence_duration_check CHECK (duration >= interval '1 second' AND duration <= interval '31 days'
			AND extract(month FROM duration) = 0 AND extract(year FROM duration) = 0),
	tz text,
	reason text NOT NULL
		CONSTRAINT silence_reason_check CHECK (btrim(reason) <> ''),
	created_by text NOT NULL DEFAULT current_user,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT silence_shape_check CHECK (
		CASE kind
			WHEN 'silence' THEN until IS NOT NULL AND schedule IS NULL AND duration IS NULL
			ELSE until IS NULL AND schedule IS NOT NULL AND duration IS NOT NULL
		END)
);
CREATE INDEX silence_project_idx ON supamon.silence (project_name);
GRANT SELECT ON supamon.silence TO pg_monitor;
-- windows open in the project's zone, which pg_monitor may read (no secret)
GRANT SELECT (cron_timezone) ON supamon.project TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('supamon.silence', '');
SELECT pg_catalog.pg_extension_config_dump('supamon.silence_id_seq', '');

-- An acknowledged problem is not reminded until the job's status changes.
ALTER TABLE supamon.job_inventory
	ADD COLUMN acked_at timestamptz,
	ADD COLUMN ack_reason text,
	ADD COLUMN acked_by text;

-- The silence or window holding the alerts of a job (NULL: the project's
-- own) at a time: what the check does, as the views show it.
CREATE FUNCTION @extschema@.supamon_silenced(project text, job text DEFAULT NULL,
											 at timestamptz DEFAULT NULL,
											 OUT until timestamptz, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'supamon_silenced'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- The zone supamon evaluates a name as: itself if PostgreSQL knows it, else GMT.
CREATE FUNCTION @extschema@.supamon_time_zone(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'supamon_time_zone'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.supamon_silence(project text, job text DEFAULT NULL,
											until timestamptz DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id bigint;
BEGIN
	IF NOT EXISTS (SELECT FROM supamon.project p WHERE p.name = supamon_silence.project) THEN
		RAISE EXCEPTION 'supamon: no project "%"', project USING ERRCODE = 'undefined_object';
	END IF;
	IF until IS NULL OR until <= now() OR until > now() + interval '1 year' THEN
		RAISE EXCEPTION 'supamon: a silence must end in the future, within a year'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For a recurring quiet time, use supamon_add_maintenance().';
	END IF;
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'supamon: a silence needs a reason' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF job IS NOT NULL AND strpos(job, '%') = 0 AND NOT EXISTS (
		SELECT FROM supamon.job_inventory j
		WHERE j.project_name = supamon_silence.project AND j.job_name = supamon_silence.job) THEN
		RAISE EXCEPTION 'supamon: no job "%" in project "%"', job, project
			USING ERRCODE = 'undefined_object',
				  HINT = 'A name with % matches many jobs, also jobs found later.';
	END IF;
	INSERT INTO supamon.silence (project_name, job_pattern, kind, until, reason)
	VALUES (project, job, 'silence', until, reason)
	RETURNING silence.id INTO id;
	RETURN id;
END $$;

CREATE FUNCTION @extschema@.supamon_unsilence(id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM supamon.silence s WHERE s.id = supamon_unsilence.id AND s.kind = 'silence';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'supamon: no silence %', id USING ERRCODE = 'undefined_object';
	END IF;
END $$;

CREATE FUNCTION @extschema@.supamon_add_maintenance(project text, job text DEFAULT NULL,
													schedule text DEFAULT NULL,
													duration interval DEFAULT NULL,
													tz text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id bigint;
	kind text;
BEGIN
	IF NOT EXISTS (SELECT FROM supamon.project p WHERE p.name = supamon_add_maintenance.project) THEN
		RAISE EXCEPTION 'supamon: no project "%"', project USING ERRCODE = 'undefined_object';
	END IF;
	IF schedule IS NULL THEN
		RAISE EXCEPTION 'supamon: a maintenance window needs a schedule' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- pg_cron's own language; its error names what is wrong
	kind := @extschema@.supamon_parse_schedule(schedule) ->> 'kind';
	IF kind IS DISTINCT FROM 'cron' THEN
		RAISE EXCEPTION 'supamon: a maintenance window opens at the fire times of a clock schedule, not "%"', schedule
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF duration IS NULL OR duration < interval '1 second' OR duration > interval '31 days'
		OR extract(month FROM duration) <> 0 OR extract(year FROM duration) <> 0 THEN
		RAISE EXCEPTION 'supamon: a maintenance window lasts from a second to 31 days (in days, not months), not %',
			coalesce(duration::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF tz IS NOT NULL AND NOT EXISTS (SELECT FROM pg_timezone_names z WHERE z.name = tz) THEN
		RAISE EXCEPTION 'supamon: unknown time zone "%"', tz
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'NULL means the project''s cron.timezone; names are those of pg_timezone_names.';
	END IF;
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'supamon: a maintenance window needs a reason' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF job IS NOT NULL AND strpos(job, '%') = 0 AND NOT EXISTS (
		SELECT FROM supamon.job_inventory j
		WHERE j.project_name = supamon_add_maintenance.project AND j.job_name = supamon_add_maintenance.job) THEN
		RAISE EXCEPTION 'supamon: no job "%" in project "%"', job, project USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO supamon.silence (project_name, job_pattern, kind, schedule, duration, tz, reason)
	VALUES (project, job, 'maintenance', schedule, duration, tz, reason)
	RETURNING silence.id INTO id;
	RETURN id;
END $$;

CREATE FUNCTION @extschema@.supamon_remove_maintenance(id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM supamon.silence s WHERE s.id = supamon_remove_maintenance.id AND s.kind = 'maintenance';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'supamon: no maintenance window %', id USING ERRCODE = 'undefined_object';
	END IF;
END $$;

CREATE FUNCTION @extschema@.supamon_ack(project text, job text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	current_status text;
BEGIN
	SELECT j.status INTO current_status FROM supamon.job_inventory j
	WHERE j.project_name = supamon_ack.project AND j.job_type = 'pg_cron' AND j.job_name = supamon_ack.job
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'supamon: no job "%" in project "%"', job, project USING ERRCODE = 'undefined_object';
	END IF;
	IF current_status NOT IN ('failed', 'missed', 'stuck') THEN
		RAISE EXCEPTION 'supamon: job "%" of project "%" is %: nothing to acknowledge', job, project, current_status
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- the clock, not the transaction's start: a status that changed while
	-- this waited for the row is not the one acknowledged
	UPDATE supamon.job_inventory j SET acked_at = clock_timestamp(), ack_reason = reason, acked_by = current_user
	WHERE j.project_name = supamon_ack.project AND j.job_type = 'pg_cron' AND j.job_name = supamon_ack.job;
END $$;

REVOKE ALL ON FUNCTION @extschema@.supamon_silence(text, text, timestamptz, text),
	@extschema@.supamon_unsilence(bigint),
	@extschema@.supamon_add_maintenance(text, text, text, interval, text, text),
	@extschema@.supamon_remove_maintenance(bigint),
	@extschema@.supamon_ack(text, text, text) FROM PUBLIC;

-- Active and upcoming silences and windows, with who set them and why.
CREATE VIEW supamon.silences AS
SELECT s.id,
	   s.project_name AS project,
	   s.job_pattern AS job,
	   s.kind,
	   s.reason,
	   s.created_by,
	   s.created_at,
	   s.until,
	   s.schedule,
	   s.duration,
	   CASE WHEN s.kind = 'maintenance' THEN z.zone END AS tz,
	   CASE WHEN s.kind = 'silence' THEN now() >= s.created_at
			ELSE now() >= s.created_at AND
				 now() < @extschema@.supamon_prev_run(s.schedule, now(), z.zone) OPERATOR(pg_catalog.+) s.duration
	   END AS active,
	   CASE WHEN s.kind = 'maintenance' THEN @extschema@.supamon_next_run(s.schedule, now(), z.zone) END AS next_window
FROM supamon.silence s
JOIN supamon.project p ON p.name = s.project_name
CROSS JOIN LATERAL (SELECT @extschema@.supamon_time_zone(coalesce(s.tz, p.cron_timezone)) AS zone) z
WHERE s.kind = 'maintenance' OR s.until > now();

-- job_status says when a job is silenced, until when and why, and whether
-- its problem was acknowledged.
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
	   END AS last_error,
	   j.next_expected_at,
	   j.consecutive_failures,
	   j.running_since,
	   sl.until AS silenced_until,
	   sl.reason AS silence_reason,
	   (j.acked_at IS NOT NULL AND j.acked_at >= j.status_since) AS acknowledged,
	   CASE WHEN j.acked_at >= j.status_since THEN j.ack_reason END AS ack_reason
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

REVOKE ALL ON supamon.silences FROM PUBLIC;
GRANT SELECT ON supamon.silences TO pg_monitor;
