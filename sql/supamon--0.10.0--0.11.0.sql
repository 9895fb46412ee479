-- supamon 0.11.0: what a check writes costs less.  A check logs every run
-- it reads; each log row paid a foreign-key check against job_inventory
-- (an index probe and a row lock) and two indexes that one can serve.
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.11.0'" to load this file. \quit

-- The history follows its job by trigger instead of by foreign key: deleted
-- with it (a project removed), renamed with it (a project renamed), emptied
-- with the inventory (TRUNCATE, which the foreign key refused, or cascaded
-- to from supamon.project).  Only supamon writes the log, for jobs it has
-- just written; a job deleted by hand while a check logs its runs can leave
-- that check's rows, purged by retention (the foreign key failed the check
-- of that project instead).
DO $$
DECLARE
	fk name;
BEGIN
	FOR fk IN
		SELECT conname FROM pg_catalog.pg_constraint
		WHERE conrelid = 'supamon.job_health_log'::pg_catalog.regclass
		  AND confrelid = 'supamon.job_inventory'::pg_catalog.regclass AND contype = 'f'
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE supamon.job_health_log DROP CONSTRAINT %I', fk);
	END LOOP;
END
$$;

-- Runs with the rights of the log's owner, as the foreign key's cascade did:
-- whoever may delete or rename a job takes its history with it.
CREATE FUNCTION supamon.job_history_follows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- whoever may run it must not turn it on the history from a table of theirs
	IF TG_RELID <> 'supamon.job_inventory'::pg_catalog.regclass THEN
		RAISE EXCEPTION 'supamon.job_history_follows() serves supamon.job_inventory only';
	END IF;
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE supamon.job_health_log;
	ELSIF TG_OP = 'DELETE' THEN
		DELETE FROM supamon.job_health_log
		WHERE project_name = OLD.project_name AND job_type = OLD.job_type AND job_name = OLD.job_name;
	ELSE
		UPDATE supamon.job_health_log
		SET project_name = NEW.project_name, job_type = NEW.job_type, job_name = NEW.job_name
		WHERE project_name = OLD.project_name AND job_type = OLD.job_type AND job_name = OLD.job_name;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION supamon.job_history_follows() FROM PUBLIC;

CREATE TRIGGER job_history_deleted AFTER DELETE ON supamon.job_inventory
	FOR EACH ROW EXECUTE FUNCTION supamon.job_history_follows();
CREATE TRIGGER job_history_truncated AFTER TRUNCATE ON supamon.job_inventory
	FOR EACH STATEMENT EXECUTE FUNCTION supamon.job_history_follows();
-- fires only when a key changes: a check's updates never name these columns
CREATE TRIGGER job_history_renamed AFTER UPDATE OF project_name, job_type, job_name
	ON supamon.job_inventory FOR EACH ROW
	WHEN ((OLD.project_name, OLD.job_type, OLD.job_name) IS DISTINCT FROM
		  (NEW.project_name, NEW.job_type, NEW.job_name))
	EXECUTE FUNCTION supamon.job_history_follows();

-- One index for a job's history and for "a run is logged once": not
-- partial, so that it serves the rows of status changes too (their run_id
-- is NULL, and NULLs never conflict).
CREATE UNIQUE INDEX job_health_log_job_run_idx ON supamon.job_health_log
	(project_name, job_type, job_name, run_id, coalesce(last_run_at, '-infinity'));
DROP INDEX supamon.job_health_log_run_idx;
DROP INDEX supamon.job_health_log_job_idx;

-- A job's row is updated once per check with a new run: room on its page
-- keeps that update HOT (no new index entries, pruned in place).  Pages
-- written before this keep their packing until rewritten.
ALTER TABLE supamon.job_inventory SET (fillfactor = 60);
