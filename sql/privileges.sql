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

DROP EXTENSION supamon;
DROP ROLE regress_supamon_plain;
DROP ROLE regress_supamon_monitor;
