/*
 * inventory.c
 *		Recording a project snapshot: inventory upsert, removed jobs, the
 *		runs observed, each job's latest run, the project's bookkeeping.
 *
 * What comes from the project (schedule, command, active...) is updated;
 * what the user set (criticality, description, success_criteria, grace) is
 * never touched.  A job gone from the project is marked removed, not
 * deleted.  Each finished run is logged once in job_health_log; each job
 * keeps its latest run and its runs in progress, so that health decisions
 * need no second remote query.
 *
 * Every statement works on whole arrays (unnest), so recording a project
 * costs a fixed number of statements whatever its size.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "inventory.h"
#include "schedule_sql.h"

/* Per-job summary of the runs in a snapshot. */
typedef struct JobRuns
{
	int64		jobid;
	int64		last_runid;		/* latest finished run, 0 if none */
	const char *last_status;
	const char *last_start;
	const char *last_end;
	const char *last_message;
	int			failures;		/* consecutive failures at the end */
	bool		reset;			/* a success was seen: failures is absolute */
	const char *latest_start;	/* latest start of any run */
	const char *running_since;	/* oldest unfinished run */
	const char *running_status;
} JobRuns;

static Datum text_array(char **values, bool *nulls, int n);
static Datum int8_array(int64 *values, bool *nulls, int n);
static Datum bool_array(bool *values, int n);
static Datum float8_array(double *values, bool *nulls, int n);
static void exec(const char *sql, int nargs, Oid *types, Datum *values,
				 const char *nulls, int expected);
static char **job_names(ProjectSnapshot *snap);
typedef struct LastFinished LastFinished;
static LastFinished *last_finished_runs(ProjectSnapshot *snap, int *n);
static bool run_is_dead(const CronRunRow *r, const LastFinished *last, int nlast);
static JobRuns *summarize_runs(ProjectSnapshot *snap, const LastFinished *last,
							   int nlast, int *njobs);

static Datum
text_array(char **values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
		d[i] = (nulls && nulls[i]) || values[i] == NULL ? (Datum) 0 : CStringGetTextDatum(values[i]);
	{
		bool	   *nn = palloc(sizeof(bool) * Max(n, 1));

		for (int i = 0; i < n; i++)
			nn[i] = (nulls && nulls[i]) || values[i] == NULL;
		return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	}
}

static Datum
int8_array(int64 *values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		d[i] = Int64GetDatum(values[i]);
		nn[i] = nulls ? nulls[i] : false;
	}
	return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, INT8OID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
bool_array(bool *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
		d[i] = BoolGetDatum(values[i]);
	return PointerGetDatum(construct_md_array(d, NULL, 1, dims, lbs, BOOLOID, 1, true, TYPALIGN_CHAR));
}

static Datum
float8_array(double *values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		d[i] = Float8GetDatum(values[i]);
		nn[i] = nulls[i];
	}
	return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, FLOAT8OID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Runs one of this file's statements, which must succeed; expected is the
 * SPI result code.  Each statement is planned once per backend (a check
 * runs the same few statements for every project, every minute).
 */
static void
exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
	 int expected)
{
	static struct
	{
		const char *sql;
		SPIPlanPtr	plan;
	}			plans[16];
	SPIPlanPtr	plan = NULL;
	int			rc;
	int			i;

	for (i = 0; i < (int) lengthof(plans) && plans[i].sql != NULL; i++)
	{
		if (plans[i].sql == sql)
		{
			plan = plans[i].plan;
			break;
		}
	}
	if (plan == NULL)
	{
		plan = SPI_prepare(sql, nargs, types);
		if (plan == NULL)
			elog(ERROR, "supamon: could not prepare a statement: %s",
				 SPI_result_code_string(SPI_result));
		if (i < (int) lengthof(plans))
		{
			SPI_keepplan(plan);
			plans[i].sql = sql;
			plans[i].plan = plan;
		}
	}
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "supamon: recording failed: %s", SPI_result_code_string(rc));
}

/*
 * The inventory name of each job: its jobname, or "job <jobid>" for an
 * unnamed one; a name used by two pg_cron users gets the user appended.
 */
static char **
job_names(ProjectSnapshot *snap)
{
	char	  **names = palloc(sizeof(char *) * Max(snap->njobs, 1));

	for (int i = 0; i < snap->njobs; i++)
	{
		CronJobRow *j = &snap->jobs[i];

		names[i] = j->jobname && j->jobname[0] ? j->jobname :
			psprintf("job " INT64_FORMAT, j->jobid);
	}
	for (int i = 0; i < snap->njobs; i++)
		for (int k = i + 1; k < snap->njobs; k++)
			if (strcmp(names[i], names[k]) == 0 && snap->jobs[k].username)
				names[k] = psprintf("%s (%s)", names[k], snap->jobs[k].username);
	return names;
}

/*
 * The latest finished runid of each job, from the snapshot and from what
 * was recorded before: an unfinished run older than that is dead (pg_cron
 * runs one instance of a job at a time; a crash or restart leaves such rows
 * behind), so it neither keeps the job "running" nor stays on the list of
 * runs to read again.
 */
typedef struct LastFinished
{
	int64		jobid;
	int64		runid;
} LastFinished;

static LastFinished *
last_finished_runs(ProjectSnapshot *snap, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(snap->project->name)};
	LastFinished *out;
	int			m = 0;

	exec("SELECT job_id, last_run_id FROM supamon.job_inventory"
		 " WHERE project_name = $1 AND job_type = 'pg_cron' AND last_run_id IS NOT NULL"
		 "   AND job_id IS NOT NULL AND removed_at IS NULL",
		 1, types, values, NULL, SPI_OK_SELECT);
	out = palloc0(sizeof(LastFinished) * (SPI_processed + snap->nruns + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		out[m].jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		out[m].runid = snap->bootstrapped ? 0 :
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		m++;
	}
	for (int i = 0; i < snap->nruns; i++)
	{
		CronRunRow *r = &snap->runs[i];
		int			k;

		if (!RUN_IS_FINISHED(r->status))
			continue;
		for (k = 0; k < m && out[k].jobid != r->jobid; k++)
			;
		if (k == m)
			out[m++].jobid = r->jobid;
		if (r->runid > out[k].runid)
			out[k].runid = r->runid;
	}
	*n = m;
	return out;
}

static bool
run_is_dead(const CronRunRow *r, const LastFinished *last, int nlast)
{
	if (RUN_IS_FINISHED(r->status))
		return false;
	for (int k = 0; k < nlast; k++)
		if (last[k].jobid == r->jobid)
			return r->runid < last[k].runid;
	return false;
}

/*
 * Folds the runs (in runid order) into one summary per job.
 */
static JobRuns *
summarize_runs(ProjectSnapshot *snap, const LastFinished *last, int nlast, int *njobs)
{
	JobRuns    *out = palloc0(sizeof(JobRuns) * Max(snap->nruns, 1));
	int			n = 0;

	for (int i = 0; i < snap->nruns; i++)
	{
		CronRunRow *r = &snap->runs[i];
		JobRuns    *j = NULL;

		for (int k = 0; k < n; k++)
			if (out[k].jobid == r->jobid)
				j = &out[k];
		if (j == NULL)
		{
			j = &out[n++];
			j->jobid = r->jobid;
		}
		if (r->start_time && (j->latest_start == NULL || strcmp(r->start_time, j->latest_start) > 0))
			j->latest_start = r->start_time;
		if (RUN_IS_FINISHED(r->status))
		{
			j->last_runid = r->runid;
			j->last_status = r->status;
			j->last_start = r->start_time;
			j->last_end = r->end_time;
			j->last_message = r->message;
			if (strcmp(r->status, "succeeded") == 0)
			{
				j->failures = 0;
				j->reset = true;
			}
			else
				j->failures++;
		}
		else if (run_is_dead(r, last, nlast))
			continue;
		else if (j->running_status == NULL ||
				 (r->start_time && j->running_since && strcmp(r->start_time, j->running_since) < 0))
		{
			/* the oldest live unfinished run; one without start_time counts too */
			j->running_since = r->start_time ? r->start_time : j->running_since;
			j->running_status = r->status;
		}
	}
	*njobs = n;
	return out;
}

void
InventoryRecordFailure(ProjectSnapshot *snap)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(snap->project->name);
	values[1] = CStringGetTextDatum(snap->error ? snap->error : "failed");
	values[2] = Int32GetDatum(snap->elapsed_ms);
	exec("UPDATE supamon.project SET reachable = false, last_check_at = now(), "
		 "last_error = $2, last_check_ms = $3 WHERE name = $1",
		 3, types, values, NULL, SPI_OK_UPDATE);
}

void
InventoryRecord(ProjectSnapshot *snap, InventoryCounts *counts)
{
	ProjectState *p = snap->project;
	int			n = snap->njobs;
	char	  **names = job_names(snap);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	char	  **schedules = palloc(sizeof(char *) * Max(n, 1));
	char	  **commands = palloc(sizeof(char *) * Max(n, 1));
	char	  **users = palloc(sizeof(char *) * Max(n, 1));
	char	  **dbs = palloc(sizeof(char *) * Max(n, 1));
	bool	   *active = palloc(sizeof(bool) * Max(n, 1));
	double	   *gaps = palloc(sizeof(double) * Max(n, 1));
	bool	   *gap_nulls = palloc(sizeof(bool) * Max(n, 1));
	Datum		project = CStringGetTextDatum(p->name);
	LastFinished *last;
	int			nlast;

	memset(counts, 0, sizeof(*counts));
	counts->jobs = n;
	counts->runs_read = snap->nruns;

	for (int i = 0; i < n; i++)
	{
		CronJobRow *j = &snap->jobs[i];

		ids[i] = j->jobid;
		schedules[i] = j->schedule;
		commands[i] = j->command;
		users[i] = j->username;
		dbs[i] = j->database;
		active[i] = j->active;
		gap_nulls[i] = !SupamonScheduleGapMinutes(j->schedule, snap->pgcron_version,
												  snap->cron_timezone, &gaps[i]);
	}

	/* 1. the inventory, new and changed jobs */
	{
		Oid			types[9] = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID};
		Datum		values[9] = {project, int8_array(ids, NULL, n), text_array(names, NULL, n),
			text_array(schedules, NULL, n), text_array(commands, NULL, n), bool_array(active, n),
		text_array(users, NULL, n), text_array(dbs, NULL, n), float8_array(gaps, gap_nulls, n)};
		bool		isnull;

		exec("WITH up AS ("
			 " INSERT INTO supamon.job_inventory AS i (project_name, job_type, job_name, job_id,"
			 "   schedule, command, active, username, database, expected_interval_minutes, last_seen_at)"
			 " SELECT $1, 'pg_cron', s.job_name, s.job_id, s.schedule, s.command, s.active,"
			 "   s.username, s.database, round(s.gap::numeric, 2), now()"
			 " FROM unnest($2, $3, $4, $5, $6, $7, $8, $9)"
			 "   AS s(job_id, job_name, schedule, command, active, username, database, gap)"
			 " ON CONFLICT (project_name, job_type, job_name) DO UPDATE SET"
			 "   job_id = EXCLUDED.job_id, schedule = EXCLUDED.schedule, command = EXCLUDED.command,"
			 "   active = EXCLUDED.active, username = EXCLUDED.username, database = EXCLUDED.database,"
			 "   expected_interval_minutes = EXCLUDED.expected_interval_minutes,"
			 "   last_seen_at = EXCLUDED.last_seen_at, removed_at = NULL,"
			 "   updated_at = CASE WHEN (i.job_id, i.schedule, i.command, i.active, i.removed_at IS NULL)"
			 "     IS DISTINCT FROM (EXCLUDED.job_id, EXCLUDED.schedule, EXCLUDED.command, EXCLUDED.active, true)"
			 "     THEN now() ELSE i.updated_at END"
			 " RETURNING (xmax = 0) AS inserted)"
			 "SELECT count(*) FILTER (WHERE inserted)::int4 FROM up",
			 9, types, values, NULL, SPI_OK_SELECT);
		counts->new_jobs = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* 2. the runs observed, each finished one logged once */
	if (snap->nruns > 0)
	{
		int			m = snap->nruns;
		int64	   *jobids = palloc(sizeof(int64) * m);
		int64	   *runids = palloc(sizeof(int64) * m);
		char	  **status = palloc(sizeof(char *) * m);
		char	  **message = palloc(sizeof(char *) * m);
		char	  **start = palloc(sizeof(char *) * m);
		char	  **end = palloc(sizeof(char *) * m);
		Oid			types[7] = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[7];

		for (int i = 0; i < m; i++)
		{
			jobids[i] = snap->runs[i].jobid;
			runids[i] = snap->runs[i].runid;
			status[i] = snap->runs[i].status;
			message[i] = snap->runs[i].message;
			start[i] = snap->runs[i].start_time;
			end[i] = snap->runs[i].end_time;
		}
		values[0] = project;
		values[1] = int8_array(jobids, NULL, m);
		values[2] = int8_array(runids, NULL, m);
		values[3] = text_array(status, NULL, m);
		values[4] = text_array(message, NULL, m);
		values[5] = text_array(start, NULL, m);
		values[6] = text_array(end, NULL, m);
		exec("INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status,"
			 "  error_message, last_run_at, run_id, run_ended_at)"
			 " SELECT $1, 'pg_cron', i.job_name,"
			 "   CASE WHEN r.status = 'succeeded' THEN 'success' ELSE 'failed' END,"
			 "   CASE WHEN r.status = 'failed' THEN r.message END,"
			 "   r.start_time::timestamp AT TIME ZONE 'UTC', r.runid,"
			 "   r.end_time::timestamp AT TIME ZONE 'UTC'"
			 " FROM unnest($2, $3, $4, $5, $6, $7) AS r(jobid, runid, status, message, start_time, end_time)"
			 " JOIN supamon.job_inventory i ON i.project_name = $1 AND i.job_type = 'pg_cron'"
			 "   AND i.job_id = r.jobid AND i.removed_at IS NULL"
			 " WHERE r.status IN ('succeeded', 'failed')"
			 " ON CONFLICT DO NOTHING",
			 7, types, values, NULL, SPI_OK_INSERT);
		counts->runs_logged = (int) SPI_processed;
	}

	last = last_finished_runs(snap, &nlast);

	/* 3. each job's latest run and runs in progress (unchanged without runs) */
	if (snap->nruns > 0 || p->nopen > 0)
	{
		int			nj;
		JobRuns    *jr = summarize_runs(snap, last, nlast, &nj);
		int64	   *jobids = palloc(sizeof(int64) * Max(nj, 1));
		int64	   *lastids = palloc(sizeof(int64) * Max(nj, 1));
		bool	   *lastnull = palloc(sizeof(bool) * Max(nj, 1));
		char	  **lstatus = palloc(sizeof(char *) * Max(nj, 1));
		char	  **lstart = palloc(sizeof(char *) * Max(nj, 1));
		char	  **lend = palloc(sizeof(char *) * Max(nj, 1));
		char	  **lmsg = palloc(sizeof(char *) * Max(nj, 1));
		int64	   *fails = palloc(sizeof(int64) * Max(nj, 1));
		bool	   *reset = palloc(sizeof(bool) * Max(nj, 1));
		char	  **latest = palloc(sizeof(char *) * Max(nj, 1));
		char	  **rsince = palloc(sizeof(char *) * Max(nj, 1));
		char	  **rstatus = palloc(sizeof(char *) * Max(nj, 1));
		Oid			types[13] = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
			TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID};
		Datum		values[13];

		for (int i = 0; i < nj; i++)
		{
			jobids[i] = jr[i].jobid;
			lastids[i] = jr[i].last_runid;
			lastnull[i] = jr[i].last_runid == 0;
			lstatus[i] = (char *) jr[i].last_status;
			lstart[i] = (char *) jr[i].last_start;
			lend[i] = (char *) jr[i].last_end;
			lmsg[i] = (char *) jr[i].last_message;
			fails[i] = jr[i].failures;
			reset[i] = jr[i].reset || snap->bootstrapped;
			latest[i] = (char *) jr[i].latest_start;
			rsince[i] = (char *) jr[i].running_since;
			rstatus[i] = (char *) jr[i].running_status;
		}
		values[0] = project;
		values[1] = int8_array(jobids, NULL, nj);
		values[2] = int8_array(lastids, lastnull, nj);
		values[3] = text_array(lstatus, NULL, nj);
		values[4] = text_array(lstart, NULL, nj);
		values[5] = text_array(lend, NULL, nj);
		values[6] = text_array(lmsg, NULL, nj);
		values[7] = int8_array(fails, NULL, nj);
		values[8] = bool_array(reset, nj);
		values[9] = text_array(latest, NULL, nj);
		values[10] = text_array(rsince, NULL, nj);
		values[11] = text_array(rstatus, NULL, nj);
		values[12] = BoolGetDatum(snap->bootstrapped);
		exec("UPDATE supamon.job_inventory i SET"
			 " last_run_id = CASE WHEN u.last_id IS NOT NULL THEN u.last_id ELSE i.last_run_id END,"
			 " last_run_status = CASE WHEN u.last_id IS NOT NULL THEN u.last_status ELSE i.last_run_status END,"
			 " last_run_started_at = CASE WHEN u.last_id IS NOT NULL"
			 "   THEN u.last_start::timestamp AT TIME ZONE 'UTC' ELSE i.last_run_started_at END,"
			 " last_run_ended_at = CASE WHEN u.last_id IS NOT NULL"
			 "   THEN u.last_end::timestamp AT TIME ZONE 'UTC' ELSE i.last_run_ended_at END,"
			 " last_run_message = CASE WHEN u.last_id IS NOT NULL THEN u.last_msg ELSE i.last_run_message END,"
			 " consecutive_failures = CASE WHEN u.reset THEN u.fails ELSE i.consecutive_failures + u.fails END,"
			 " last_start_at = CASE WHEN $13 THEN coalesce(u.latest::timestamp AT TIME ZONE 'UTC', i.last_start_at)"
			 "   ELSE greatest(i.last_start_at, u.latest::timestamp AT TIME ZONE 'UTC') END"
			 " FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10)"
			 "   AS u(jobid, last_id, last_status, last_start, last_end, last_msg, fails, reset, latest)"
			 " WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_id = u.jobid"
			 "   AND i.removed_at IS NULL",
			 13, types, values, NULL, SPI_OK_UPDATE);
		/*
		 * Runs in progress: exactly those seen now.  A run that has not
		 * started yet (starting, connecting) has no start_time: it counts
		 * from when supamon first saw it.
		 */
		exec("UPDATE supamon.job_inventory i SET running_since = v.since, running_status = v.status"
			 " FROM (SELECT j.job_id, r.status, CASE WHEN r.status IS NOT NULL THEN coalesce("
			 "         r.since::timestamp AT TIME ZONE 'UTC',"
			 "         CASE WHEN j.running_status IS NOT NULL THEN j.running_since END, now())"
			 "       END AS since"
			 "       FROM supamon.job_inventory j"
			 "       LEFT JOIN unnest($2, $11, $12) AS r(jobid, since, status)"
			 "         ON r.jobid = j.job_id AND r.status IS NOT NULL"
			 "       WHERE j.project_name = $1 AND j.job_type = 'pg_cron' AND j.removed_at IS NULL) v"
			 " WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_id = v.job_id"
			 "   AND i.removed_at IS NULL"
			 "   AND (i.running_since, i.running_status) IS DISTINCT FROM (v.since, v.status)",
			 13, types, values, NULL, SPI_OK_UPDATE);
	}

	/* 4. jobs gone from the project */
	{
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};
		Datum		values[2] = {project, text_array(names, NULL, n)};

		exec("UPDATE supamon.job_inventory SET removed_at = now(), updated_at = now()"
			 " WHERE project_name = $1 AND job_type = 'pg_cron' AND removed_at IS NULL"
			 "   AND job_name <> ALL ($2)",
			 2, types, values, NULL, SPI_OK_UPDATE);
		counts->removed_jobs = (int) SPI_processed;
	}

	/* 5. the project's bookkeeping */
	{
		int64	   *open = palloc(sizeof(int64) * Max(snap->nruns, 1));
		int			nopen = 0;
		int64		high = snap->has_max_runid ? snap->max_runid : 0;
		bool		has_high = snap->has_max_runid;
		Oid			types[10] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, BOOLOID,
		BOOLOID, INT8OID, INT8ARRAYOID, BOOLOID};
		Datum		values[10];
		char		nulls[11] = "          ";

		for (int i = 0; i < snap->nruns; i++)
		{
			if (!RUN_IS_FINISHED(snap->runs[i].status) &&
				!run_is_dead(&snap->runs[i], last, nlast))
				open[nopen++] = snap->runs[i].runid;
			if (!has_high || snap->runs[i].runid > high)
			{
				high = snap->runs[i].runid;
				has_high = true;
			}
		}
		values[0] = project;
		values[1] = Int32GetDatum(snap->elapsed_ms);
		values[2] = snap->remote_now ? CStringGetTextDatum(snap->remote_now) : (Datum) 0;
		nulls[2] = snap->remote_now ? ' ' : 'n';
		values[3] = snap->cron_timezone ? CStringGetTextDatum(snap->cron_timezone) : (Datum) 0;
		nulls[3] = snap->cron_timezone ? ' ' : 'n';
		values[4] = snap->pgcron_version ? CStringGetTextDatum(snap->pgcron_version) : (Datum) 0;
		nulls[4] = snap->pgcron_version ? ' ' : 'n';
		values[5] = BoolGetDatum(snap->log_run);
		values[6] = BoolGetDatum(snap->scheduler == 1);
		nulls[6] = snap->scheduler < 0 ? 'n' : ' ';
		values[7] = Int64GetDatum(high);
		nulls[7] = has_high ? ' ' : 'n';
		values[8] = int8_array(open, NULL, nopen);
		values[9] = BoolGetDatum(snap->bootstrapped);
		exec("UPDATE supamon.project SET reachable = true, last_check_at = now(),"
			 " last_success_at = now(), last_error = NULL, last_check_ms = $2,"
			 " remote_now = $3::timestamp AT TIME ZONE 'UTC', cron_timezone = $4,"
			 " pg_cron_version = $5, cron_log_run = $6, scheduler_running = $7,"
			 " run_high_water = $8, open_run_ids = $9,"
			 " history_bootstrapped_at = CASE WHEN $10 THEN now() ELSE history_bootstrapped_at END"
			 " WHERE name = $1",
			 10, types, values, nulls, SPI_OK_UPDATE);
	}
}
