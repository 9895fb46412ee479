-- The regression tests' project: this very database, its pg_cron scheduler
-- up (preloaded with cron.database_name = this database; else every job
-- alert would fold into one "scheduler down"), and pg_cron's two tables
-- written by hand, so that nothing really runs and every history is exactly
-- as a test writes it.  Included by the tests with \i.
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
						  WHERE backend_type = 'pg_cron launcher' AND datname = current_database());
		PERFORM pg_sleep(0.1);
		PERFORM pg_stat_clear_snapshot();
	END LOOP;
END $$;
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL,
	command text NOT NULL, nodename text NOT NULL DEFAULT 'localhost',
	nodeport int NOT NULL DEFAULT 5432, database text NOT NULL DEFAULT current_database(),
	username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true,
	jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY,
	job_pid int, database text, username text, command text, status text,
	return_message text, start_time timestamptz, end_time timestamptz);
