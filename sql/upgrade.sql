-- Upgrade path: install the first released version, put data in, update to
-- the default version, and check the data and the version.
CREATE EXTENSION supamon VERSION '0.1.0';
INSERT INTO supamon.project (name, supabase_ref) VALUES ('alpha', 'abcdefghijklmnopqrst');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, criticality, command)
	VALUES ('alpha', 'pg_cron', 'billing', 'critical',
			$$SELECT net.http_post('https://x.supabase.co/functions/v1/bill', headers := '{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"}')$$);
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	VALUES ('alpha', 'pg_cron', 'billing', 'failed');
ALTER EXTENSION supamon UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'supamon') AS at_default
FROM pg_extension WHERE extname = 'supamon';
SELECT p.name, p.supabase_ref, j.job_name, j.criticality
FROM supamon.project p JOIN supamon.job_inventory j ON j.project_name = p.name;
-- what earlier versions stored is redacted by the update
SELECT command FROM supamon.job_inventory;
-- the history kept follows its job after the update (0.11.0: by trigger)
UPDATE supamon.project SET name = 'beta' WHERE name = 'alpha';
SELECT project_name, job_name, status FROM supamon.job_health_log;
-- and the inventory leaves room for its updates
SELECT reloptions FROM pg_class WHERE oid = 'supamon.job_inventory'::regclass;
-- What later versions added works after the update.
SELECT supamon_next_run('0 * * * *', '2026-01-01 00:30+00') AT TIME ZONE 'UTC' AS next_hour;
DROP EXTENSION supamon;
