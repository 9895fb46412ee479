-- Projects: adding and removing them, and what is refused (with secrets
-- masked and nothing half-written).
CREATE EXTENSION supamon;
SELECT supamon_add_project('alpha', 'host=db.example.invalid port=5432 dbname=postgres user=postgres password=hunter2');
SELECT supamon_add_project('beta', NULL, 'abcdefghijklmnopqrst');
SELECT supamon_add_project(name => 'gamma', conninfo => 'postgresql://monitor:hunter2@db.example.invalid:6543/postgres');
SELECT name, conninfo IS NOT NULL AS has_conninfo, supabase_ref, enabled, reachable
FROM supamon.project ORDER BY name;

-- Refused, each with a clear error; the password never shows.
SELECT supamon_add_project('alpha');
SELECT supamon_add_project('bad name');
SELECT supamon_add_project('-leading-dash');
SELECT supamon_add_project(repeat('x', 64));
SELECT supamon_add_project(NULL);
SELECT supamon_add_project('delta', '');
SELECT supamon_add_project('delta', E' \t ');
SELECT supamon_add_project('delta', 'host=db.example.invalid password=hunter2 oops');
SELECT supamon_add_project('delta', 'postgresql://admin:hunter2@[::1');
SELECT supamon_add_project('delta', 'postgresql://postgres:s3cr@tP4ssw0rd@db.example.invalid:5432/postgres');
SELECT supamon_add_project('delta', 'host=db.example.invalid nosuchoption=1');
SELECT supamon_add_project('delta', 'host=db.example.invalid', 'Not-A-Ref');
SELECT count(*) AS delta_rows FROM supamon.project WHERE name = 'delta';

-- A connection string is changed through the same checks, never by UPDATE.
SELECT supamon_set_conninfo('gamma', 'host=db2.example.invalid dbname=postgres password=hunter3');
SELECT supamon_set_conninfo('gamma', 'host=db2.example.invalid password=hunter3 oops');
SELECT supamon_set_conninfo('gamma', '   ');
SELECT supamon_set_conninfo('nope', NULL);
SELECT name, conninfo FROM supamon.project WHERE name = 'gamma';
SELECT supamon_set_conninfo('gamma', NULL);
SELECT name, conninfo IS NULL AS local FROM supamon.project WHERE name = 'gamma';

SELECT supamon_remove_project('nope');
SELECT supamon_remove_project(NULL);
SELECT * FROM supamon_audit('nope');

-- Only the owner (and superusers) may manage projects or run audits.
CREATE ROLE regress_supamon_user;
SET ROLE regress_supamon_user;
SELECT supamon_add_project('mine');
SELECT supamon_remove_project('alpha');
SELECT supamon_set_conninfo('alpha', NULL);
SELECT * FROM supamon_audit();
SELECT supamon_check_health();
RESET ROLE;
DROP ROLE regress_supamon_user;

-- Removing a project removes its inventory too.
INSERT INTO supamon.job_inventory (project_name, job_type, job_name) VALUES ('alpha', 'pg_cron', 'nightly');
SELECT supamon_remove_project('alpha');
SELECT (SELECT count(*) FROM supamon.project) AS projects,
	   (SELECT count(*) FROM supamon.job_inventory) AS jobs;
-- What supamon stores from projects is redacted; the same rules as a function.
SELECT supamon_redact($$SELECT net.http_post(url := 'https://abc.supabase.co/functions/v1/x',
	headers := '{"apikey": "sb_secret_abcdefghijklmnop1234", "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln"}'::jsonb)$$) AS command;
SELECT supamon_redact('ERROR:  could not connect to postgresql://admin:swordfish9@db.example.invalid/postgres') AS message;
SELECT supamon_redact('SELECT count(*) FROM tokens WHERE created_at > now()') AS unchanged;
DROP EXTENSION supamon;
