-- supamon 0.5.0: hostile data, secrets and privileges (no new features).
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.5.0'" to load this file. \quit

-- Every function that runs statements resolves names only in pg_catalog
-- (and supamon's schema-qualified objects): a role that can create objects
-- in a schema on the caller's search_path (public, say) must not be able to
-- slip a better-matching make_interval() or unnest() under a superuser's
-- check.  pg_temp comes last so that it cannot shadow anything either.
ALTER FUNCTION @extschema@.supamon_add_project(text, text, text)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.supamon_remove_project(text)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.supamon_audit(text)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.supamon_check_health(text)
	SET search_path = pg_catalog, pg_temp;

-- A project's connection string, changed through the same checks as when it
-- was added (NULL: this very database).
CREATE FUNCTION @extschema@.supamon_set_conninfo(project text, conninfo text)
RETURNS void
AS 'MODULE_PATHNAME', 'supamon_set_conninfo'
LANGUAGE C
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.supamon_set_conninfo(text, text) FROM PUBLIC;

-- The views again, every function qualified: a view binds its functions
-- when it is created, under the search_path CREATE EXTENSION runs with.
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
	   j.running_since
FROM supamon.job_inventory j;

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
	   pg_catalog.count(j.job_name) FILTER (WHERE j.status = 'removed') AS removed
FROM supamon.project p
LEFT JOIN supamon.job_inventory j ON j.project_name = p.name
GROUP BY p.name;

-- What supamon stores from projects is redacted: bearer tokens, JWTs, API
-- keys and passwords in commands and messages become "***" (pg_monitor
-- reads them, alerts carry them).  The same rules as a function, for users
-- and for what earlier versions stored.
CREATE FUNCTION @extschema@.supamon_redact(text)
RETURNS text
AS 'MODULE_PATHNAME', 'supamon_redact'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

UPDATE supamon.job_inventory
SET command = @extschema@.supamon_redact(command),
	last_run_message = @extschema@.supamon_redact(last_run_message)
WHERE command IS DISTINCT FROM @extschema@.supamon_redact(command)
   OR last_run_message IS DISTINCT FROM @extschema@.supamon_redact(last_run_message);
UPDATE supamon.job_health_log SET error_message = @extschema@.supamon_redact(error_message)
WHERE error_message IS DISTINCT FROM @extschema@.supamon_redact(error_message);
UPDATE supamon.project SET last_error = @extschema@.supamon_redact(last_error)
WHERE last_error IS DISTINCT FROM @extschema@.supamon_redact(last_error);
UPDATE supamon.alert_outbox
SET message = @extschema@.supamon_redact(message),
	details = CASE WHEN details ? 'reason'
		THEN details || pg_catalog.jsonb_build_object('reason', @extschema@.supamon_redact(details ->> 'reason'))
		ELSE details END
WHERE message IS DISTINCT FROM @extschema@.supamon_redact(message)
   OR details ->> 'reason' IS DISTINCT FROM @extschema@.supamon_redact(details ->> 'reason');
