/*
 * collect.c
 *		Reading a project's pg_cron: its facts, its jobs, and the runs newer
 *		than what supamon has seen, in one round trip.
 *
 * The same four statements serve both paths: through libpq for a remote
 * project (after setting up the session so that text values parse the same
 * way always) and through SPI for this very database.  Times travel as UTC
 * ISO 8601 text, so neither side's DateStyle or TimeZone matters.
 *
 * Run history is read incrementally: only runs with a runid above the
 * project's high-water mark, plus the runs last seen unfinished.  On first
 * contact, or when runids went backwards (pg_cron reinstalled, history
 * truncated), only the latest finished run of each job and the runs still in
 * progress after it are read.  The choice is made on the server by one-time
 * filters, so each branch uses the runid index and costs what it returns.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "collect.h"
#include "supamon.h"

/* How much of a run's message and a job's command supamon keeps. */
#define MAX_MESSAGE_CHARS 2000
#define MAX_COMMAND_CHARS 10000

#define UTC_TEXT(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"

#define RUN_COLUMNS \
	"d.jobid, d.runid, d.status, left(d.return_message, " CppAsString2(MAX_MESSAGE_CHARS) "), " \
	"octet_length(d.return_message), " UTC_TEXT("d.start_time") ", " UTC_TEXT("d.end_time")

#define NSTATEMENTS 4

/* A result of any of the two paths, as text: the shape remote.c gives. */
typedef RemoteRows ResultSet;

static void build_statements(const ProjectState *p, char **stmts);
static char *clean_text(const char *s, int maxbytes);
static const char *rs_get(const ResultSet *rs, int row, int col);
static void interpret(ResultSet *sets, ProjectSnapshot *snap);

/*
 * The four statements: facts, the highest runid, jobs, runs.
 */
static void
build_statements(const ProjectState *p, char **stmts)
{
	StringInfoData runs;

	/*
	 * One pass over the settings and one over the backends (a new backend
	 * pays for every catalog it touches).  pg_settings lists real settings
	 * only, so a cron.timezone left in postgresql.conf for a pg_cron that
	 * does not know it (a placeholder) reads as absent.
	 */
	stmts[0] = psprintf(
		"SELECT " UTC_TEXT("now()") ", s.timezone, "
		"(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'), "
		"s.log_run, a.launchers, a.hidden "
		"FROM (SELECT max(setting) FILTER (WHERE name = 'cron.timezone') AS timezone,"
		"             max(setting) FILTER (WHERE name = 'cron.log_run') AS log_run"
		"      FROM pg_catalog.pg_settings WHERE name IN ('cron.timezone', 'cron.log_run')) s, "
		"     (SELECT count(*) FILTER (WHERE backend_type = 'pg_cron launcher'"
		"                              AND datid = (SELECT oid FROM pg_catalog.pg_database"
		"                                           WHERE datname = current_database())) AS launchers,"
		"             count(*) FILTER (WHERE backend_type IS NULL) AS hidden"
		"      FROM pg_catalog.pg_stat_get_activity(NULL) ) a");
	stmts[1] = pstrdup("SELECT max(runid) FROM cron.job_run_details");
	stmts[2] = psprintf(
		"SELECT jobid, jobname, schedule, left(command, %d), username, database, active "
		"FROM cron.job ORDER BY jobid", MAX_COMMAND_CHARS);

	initStringInfo(&runs);
	/* the latest finished run of each job, and unfinished runs after it */
	appendStringInfoString(&runs,
						   "WITH last AS (SELECT jobid, max(runid) AS runid FROM cron.job_run_details "
						   "  WHERE status IN ('succeeded', 'failed') GROUP BY jobid), "
						   "top AS (SELECT max(runid) AS runid FROM cron.job_run_details) ");
	if (p->has_high_water)
	{
		appendStringInfo(&runs,
						 "SELECT " RUN_COLUMNS " FROM cron.job_run_details d "
						 "WHERE (SELECT runid FROM top) >= " INT64_FORMAT " AND (d.runid > " INT64_FORMAT,
						 p->high_water, p->high_water);
		if (p->nopen > 0)
		{
			appendStringInfoString(&runs, " OR d.runid = ANY ('{");
			for (int i = 0; i < p->nopen; i++)
				appendStringInfo(&runs, "%s" INT64_FORMAT, i ? "," : "", p->open_runs[i]);
			appendStringInfoString(&runs, "}'::bigint[])");
		}
		appendStringInfo(&runs, ") UNION ALL ");
	}
	appendStringInfoString(&runs,
						   "SELECT " RUN_COLUMNS " FROM cron.job_run_details d "
						   "LEFT JOIN last l ON l.jobid = d.jobid WHERE ");
	if (p->has_high_water)
		appendStringInfo(&runs, "(SELECT runid FROM top) < " INT64_FORMAT " AND ",
						 p->high_water);
	appendStringInfoString(&runs,
						   "(d.runid = l.runid OR (d.status NOT IN ('succeeded', 'failed') "
						   "AND d.runid > coalesce(l.runid, 0))) ORDER BY 2");
	stmts[3] = runs.data;
}

char *
CollectSql(const ProjectState *p)
{
	char	   *stmts[NSTATEMENTS];
	StringInfoData sql;

	build_statements(p, stmts);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SET search_path = pg_catalog; SET TimeZone = 'UTC'; "
					 "SET DateStyle = 'ISO'; SET statement_timeout = %d; "
					 "SET lock_timeout = %d; ",
					 supamon_query_timeout, supamon_query_timeout);
	for (int i = 0; i < NSTATEMENTS; i++)
		appendStringInfo(&sql, "%s; ", stmts[i]);
	return sql.data;
}

/*
 * A copy of a value that is valid in the database encoding (invalid bytes
 * become '?') and at most maxbytes long, cut on a character boundary.
 */
static char *
clean_text(const char *s, int maxbytes)
{
	int			len = strlen(s);
	char	   *out = palloc(len + 1);
	int			o = 0;
	int			enc = GetDatabaseEncoding();

	for (int i = 0; i < len;)
	{
		int			l = pg_encoding_verifymbchar(enc, s + i, len - i);

		if (l <= 0)
		{
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	if (maxbytes > 0 && o > maxbytes)
		out[pg_mbcliplen(out, o, maxbytes)] = '\0';
	return out;
}

static const char *
rs_get(const ResultSet *rs, int row, int col)
{
	return rs->values[row * rs->ncols + col];
}

static char *
rs_text(const ResultSet *rs, int row, int col, int maxbytes)
{
	const char *v = rs_get(rs, row, col);

	return v ? clean_text(v, maxbytes) : NULL;
}

/*
 * Turns the four result sets into a snapshot.
 */
static void
interpret(ResultSet *sets, ProjectSnapshot *snap)
{
	ResultSet  *facts = &sets[0];
	ResultSet  *top = &sets[1];
	ResultSet  *jobs = &sets[2];
	ResultSet  *runs = &sets[3];
	ProjectState *p = snap->project;

	if (facts->nrows != 1 || facts->ncols < 6 || top->nrows != 1 ||
		jobs->ncols < 7 || runs->ncols < 7)
	{
		snap->ok = false;
		snap->error = pstrdup("unexpected result shape from the project");
		return;
	}

	snap->remote_now = rs_text(facts, 0, 0, 64);
	snap->cron_timezone = rs_text(facts, 0, 1, 256);
	snap->pgcron_version = rs_text(facts, 0, 2, 64);
	snap->log_run = rs_get(facts, 0, 3) == NULL || strcmp(rs_get(facts, 0, 3), "on") == 0;
	if (atoi(rs_get(facts, 0, 4)) > 0)
		snap->scheduler = 1;
	else if (atoi(rs_get(facts, 0, 5)) > 0)
		snap->scheduler = -1;	/* some backends are hidden from this role */
	else
		snap->scheduler = 0;

	snap->has_max_runid = rs_get(top, 0, 0) != NULL;
	snap->max_runid = snap->has_max_runid ? strtoi64(rs_get(top, 0, 0), NULL, 10) : 0;
	snap->bootstrapped = !p->has_high_water ||
		!snap->has_max_runid || snap->max_runid < p->high_water;

	snap->njobs = jobs->nrows;
	snap->jobs = palloc0(sizeof(CronJobRow) * Max(jobs->nrows, 1));
	for (int i = 0; i < jobs->nrows; i++)
	{
		CronJobRow *j = &snap->jobs[i];

		j->jobid = strtoi64(rs_get(jobs, i, 0), NULL, 10);
		j->jobname = rs_text(jobs, i, 1, 256);
		j->schedule = rs_text(jobs, i, 2, 1000);
		j->command = rs_text(jobs, i, 3, MAX_COMMAND_CHARS * 4);
		j->username = rs_text(jobs, i, 4, 256);
		j->database = rs_text(jobs, i, 5, 256);
		j->active = rs_get(jobs, i, 6) == NULL || strcmp(rs_get(jobs, i, 6), "t") == 0;
	}

	snap->nruns = runs->nrows;
	snap->runs = palloc0(sizeof(CronRunRow) * Max(runs->nrows, 1));
	for (int i = 0; i < runs->nrows; i++)
	{
		CronRunRow *r = &snap->runs[i];

		r->jobid = rs_get(runs, i, 0) ? strtoi64(rs_get(runs, i, 0), NULL, 10) : 0;
		r->runid = strtoi64(rs_get(runs, i, 1), NULL, 10);
		r->status = rs_text(runs, i, 2, 64);
		if (r->status == NULL)
			r->status = pstrdup("unknown");
		r->message = rs_text(runs, i, 3, MAX_MESSAGE_CHARS * 4);
		r->message_bytes = rs_get(runs, i, 4) ? atoi(rs_get(runs, i, 4)) : 0;
		r->start_time = rs_text(runs, i, 5, 64);
		r->end_time = rs_text(runs, i, 6, 64);
	}
	snap->ok = true;
}

void
CollectFromRemote(RemoteRequest *r, ProjectSnapshot *snap)
{
	snap->elapsed_ms = r->elapsed_ms;
	if (!r->ok)
	{
		snap->ok = false;
		snap->error = pstrdup(r->error ? r->error : "failed");
		return;
	}
	/* the SETs return no rows: the sets are the SELECTs' */
	if (r->nsets != NSTATEMENTS)
	{
		snap->ok = false;
		snap->error = pstrdup("unexpected results from the project");
		return;
	}
	interpret(r->sets, snap);
}

/*
 * This database's own pg_cron, read through SPI.  A failure (no cron schema,
 * no permission) is the project's error, not the caller's: the statements run
 * in a subtransaction that is rolled back on error.
 */
void
CollectLocal(ProjectSnapshot *snap)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TimestampTz start = GetCurrentTimestamp();
	char	   *stmts[NSTATEMENTS];
	ResultSet	sets[NSTATEMENTS];
	ErrorData  *edata = NULL;

	build_statements(snap->project, stmts);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		for (int i = 0; i < NSTATEMENTS; i++)
		{
			int			rc = SPI_execute(stmts[i], true, 0);
			ResultSet  *rs = &sets[i];

			if (rc != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
			rs->nrows = (int) SPI_processed;
			rs->ncols = SPI_tuptable->tupdesc->natts;
			rs->values = MemoryContextAllocZero(oldcontext,
												sizeof(char *) * Max(rs->nrows * rs->ncols, 1));
			for (int row = 0; row < rs->nrows; row++)
				for (int col = 0; col < rs->ncols; col++)
				{
					char	   *v = SPI_getvalue(SPI_tuptable->vals[row],
												 SPI_tuptable->tupdesc, col + 1);

					/* copy out of SPI's memory, which the next call frees */
					rs->values[row * rs->ncols + col] = v ? MemoryContextStrdup(oldcontext, v) : NULL;
				}
			SPI_freetuptable(SPI_tuptable);
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* a cancel or a timeout is the caller's, not the project's */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
	}
	PG_END_TRY();

	snap->elapsed_ms = (int) ((GetCurrentTimestamp() - start) / 1000);
	if (edata)
	{
		snap->ok = false;
		snap->error = pstrdup(edata->message);
		FreeErrorData(edata);
		return;
	}
	interpret(sets, snap);
}
