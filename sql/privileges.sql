-- Privileges as a plain role and as a monitoring role: nothing for PUBLIC,
-- secret columns for the owner only.
CREATE EXTENSION supamon;
INSERT INTO supamon.project (name, conninfo)
	VALUES ('alpha', 'host=db.example.invalid password=hunter2');
INSERT INTO supamon.alert_config (channel, webhook_url)
	VALUES ('discord', 'https://discord.example.invalid/api/webhooks/1/secret-token');

-- PUBLIC holds no privilege on any table or the schema.
SELECT c.relname,
	   has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER') AS public_has_any
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'supamon' AND c.relkind IN ('r', 'v', 'S')
ORDER BY 1;
SELECT has_schema_privilege('public', 'supamon', 'USAGE') AS public_usage,
	   has_schema_privilege('public', 'supamon', 'CREATE') AS public_create;

CREATE ROLE regress_supamon_plain;
CREATE ROLE regress_supamon_monitor IN ROLE pg_monitor;

SET ROLE regress_supamon_plain;
SELECT name FROM supamon.project;
SELECT * FROM supamon.job_status;
SELECT * FROM supamon.job_inventory;
INSERT INTO supamon.project (name) VALUES ('mine');
RESET ROLE;

SET ROLE regress_supamon_monitor;
SELECT name, enabled, reachable FROM supamon.project;
SELECT conninfo FROM supamon.project;
SELECT * FROM supamon.project;
SELECT channel, criticality FROM supamon.alert_config;
SELECT webhook_url FROM supamon.alert_config;
SELECT bot_token FROM supamon.alert_config;
SELECT count(*) FROM supamon.job_inventory;
-- the views show no secret and are for monitors
SELECT project, status, reachable FROM supamon.project_status;
SELECT count(*) FROM supamon.job_status;
UPDATE supamon.job_inventory SET criticality = 'low';
DELETE FROM supamon.alert_outbox;
RESET ROLE;

-- A plain role that can create functions in a schema on a superuser's
-- search_path must not get that superuser's privileges through supamon:
-- whatever the caller's search_path, every statement supamon runs resolves
-- to pg_catalog and supamon's own objects.  The bait: a local project with
-- a job and a run, so that every statement of a check runs.
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL,
	command text NOT NULL, database text NOT NULL DEFAULT current_database(),
	username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true,
	jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY,
	status text, return_message text, start_time timestamptz, end_time timestamptz);
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', 'SELECT 1', 'bait');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	VALUES (1, 'failed', 'ERROR:  boom', now() - interval '30 seconds', now() - interval '29 seconds'),
		   (1, 'running', NULL, now() - interval '10 seconds', NULL);
CREATE ROLE regress_supamon_attacker;
GRANT CREATE ON SCHEMA public TO regress_supamon_attacker;
SET ROLE regress_supamon_attacker;
CREATE FUNCTION public.become_superuser() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_supamon_attacker SUPERUSER';
	END IF;
END $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM public.become_superuser(); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.become_superuser(); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql AS $$
BEGIN PERFORM public.become_superuser(); RETURN pg_catalog.make_interval(secs => $1); END $$;
CREATE FUNCTION public.left(text, integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.become_superuser(); RETURN pg_catalog.left($1, $2); END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM public.become_superuser(); RETURN pg_catalog.now(); END $$;
RESET ROLE;
-- the strongest position: public searched before pg_catalog
SET search_path = public, pg_catalog;
SELECT supamon_add_project('bait');
SELECT supamon_check_health('bait') ->> 'total_jobs' AS jobs;
SELECT project, reachable, jobs FROM supamon_audit('bait');
SELECT name, status FROM supamon.job_status;
SELECT supamon_set_conninfo('bait', NULL);
SELECT supamon_remove_project('bait');
SELECT supamon_parse_schedule('*/5 * * * *') ->> 'kind' AS kind;
SELECT supamon_next_run('0 * * * *', '2026-01-01 00:30+00') AT TIME ZONE 'UTC' AS next_run;
RESET search_path;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_supamon_attacker';
DROP FUNCTION public.unnest(bigint[]), public.unnest(text[]), public.make_interval(integer),
	public.left(text, integer), public.now(), public.become_superuser();
REVOKE CREATE ON SCHEMA public FROM regress_supamon_attacker;
DROP ROLE regress_supamon_attacker;
DROP SCHEMA cron CASCADE;

-- The local project's cron schema made by a plain role: its views would run
-- the role's functions as the superuser who checks.  It is refused.
CREATE ROLE regress_supamon_mallory;
GRANT CREATE ON DATABASE contrib_regression TO regress_supamon_mallory;
SET ROLE regress_supamon_mallory;
CREATE SCHEMA cron;
CREATE FUNCTION cron.f() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_supamon_mallory SUPERUSER';
	END IF;
	RETURN 1;
END $$;
CREATE VIEW cron.job AS SELECT cron.f() AS jobid, '* * * * *'::text AS schedule, 'x'::text AS command,
	'postgres'::text AS database, 'postgres'::text AS username, true AS active, 'j'::text AS jobname;
CREATE TABLE cron.job_run_details (jobid bigint, runid bigint, status text, return_message text,
	start_time timestamptz, end_time timestamptz);
RESET ROLE;
SELECT supamon_add_project('local');
SELECT supamon_check_health('local') ->> 'unreachable_projects' AS unreachable;
SELECT project, reachable, last_error FROM supamon.project_status WHERE project = 'local';
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'regress_supamon_mallory';
SELECT supamon_remove_project('local');
DROP SCHEMA cron CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_supamon_mallory;
DROP ROLE regress_supamon_mallory;

DROP EXTENSION supamon;
DROP ROLE regress_supamon_plain;
DROP ROLE regress_supamon_monitor;
