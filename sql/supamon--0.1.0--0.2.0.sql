-- supamon 0.2.0: pg_cron's schedule language (SPEC section 4).
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.2.0'" to load this file. \quit

-- What a schedule means to a given pg_cron version (NULL: the newest).
CREATE FUNCTION @extschema@.supamon_parse_schedule(schedule text,
												   pg_cron_version text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'supamon_parse_schedule'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The first fire time strictly after 'after', evaluated in time zone tz the
-- way pg_cron's launcher does; NULL when the schedule never fires on the
-- clock.  STABLE, not IMMUTABLE: the zone database can change.
CREATE FUNCTION @extschema@.supamon_next_run(schedule text, after timestamptz,
											 tz text DEFAULT 'GMT',
											 pg_cron_version text DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'supamon_next_run'
LANGUAGE C STABLE PARALLEL SAFE;

-- The last fire time at or before 'at'.
CREATE FUNCTION @extschema@.supamon_prev_run(schedule text, at timestamptz,
											 tz text DEFAULT 'GMT',
											 pg_cron_version text DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'supamon_prev_run'
LANGUAGE C STABLE PARALLEL SAFE;
