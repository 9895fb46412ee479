/*
 * collect.c
 *		Reading a project's pg_cron: its facts, its jobs, and the runs newer
 *		than what supamon has seen, in one round trip.
 *
 * The same four statements serve both paths: through libpq for a remote
 * project (in one read-only transaction with its own settings) and through
 * SPI for this very database.  Every value that comes back is the
 * project's, so untrusted: texts are capped on the project's side and
 * cleaned here, numbers and times parsed strictly, rows and bytes bounded.
 *
 * Run history is read incrementally: only runs with a runid above the
 * project's high-water mark, plus the runs last seen unfinished.  On first
 * contact, or when runids went backwards (pg_cron reinstalled, history
 * truncated), only the latest finished run of each job and the runs still in
 * progress after it are read.  The choice is made on the server by one-time
 * filters, so each branch uses the runid index and costs what it returns.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "collect.h"
#include "redact.h"
#include "supamon.h"

/* How much of each text supamon keeps (characters). */
#define MAX_MESSAGE_CHARS 2000
#define MAX_COMMAND_CHARS 10000
#define MAX_NAME_CHARS 200
#define MAX_SCHEDULE_CHARS 1000
#define MAX_ROLE_CHARS 128

/* How far past the project's clock a run's time may be (a clock's jitter). */
#define FUTURE_SLACK_USECS ((int64) 5 * 60 * 1000000)

/*
 * Texts are cut on the project's side one character after what is kept, so
 * that the central side knows when it cut.
 */
#define CUT(col, chars) "left((" col ")::text, " CppAsString2(chars) " + 1)"

/*
 * Times travel as seconds since 1970 (extract(epoch)), which neither side's
 * DateStyle or TimeZone changes and which keeps an era: BC is negative.
 */
#define EPOCH(col) "extract(epoch FROM " col ")"

#define RUN_COLUMNS \
	"d.jobid, d.runid, " CUT("d.status", 20) ", " CUT("d.return_message", MAX_MESSAGE_CHARS) ", " \
	EPOCH("d.start_time") ", " EPOCH("d.end_time")

/*
 * The runids pg_cron can have handed out: its sequence's last value, where
 * supamon may read it.  A row with a larger runid was not written by
 * pg_cron, and taken as the high-water mark it would hide every later run.
 */
#define RUNID_CAP \
	"coalesce((SELECT pg_catalog.pg_sequence_last_value(s)" \
	" FROM pg_catalog.to_regclass('cron.runid_seq') s" \
	" WHERE pg_catalog.has_sequence_privilege(s, 'SELECT')), 9223372036854775807)"

/* facts, the highest runid, jobs, runs; and pg_net's responses when readable */
#define NSTATEMENTS 5

/* How many pg_net responses one collection reads at most, and how much of each. */
#define COLLECT_MAX_RESPONSES 10000
#define MAX_RESPONSE_CHARS 300

/* A response's body only where it failed: a good one's says nothing. */
#define FAILED_CONTENT \
	"CASE WHEN status_code IS NULL OR status_code NOT BETWEEN 200 AND 399 OR timed_out" \
	" OR error_msg IS NOT NULL THEN " CUT("content", MAX_RESPONSE_CHARS) " END"


static int	build_statements(const CollectParams *p, char **stmts);
static const char *rs_get(const RemoteRows *rs, int row, int col);
static bool parse_int64(const char *s, int64 *out);
static bool parse_epoch(const char *s, int64 *usecs);
static void interpret(RemoteRows *sets, ProjectSnapshot *snap);
static void check_local_owners(bool pg_net);

/*
 * The statements: facts, the highest runid, jobs, runs, and pg_net's recent
 * responses where the last collection found them readable (a statement on a
 * table that is not there would fail the whole read).  Returns how many.
 */
static int
build_statements(const CollectParams *p, char **stmts)
{
	StringInfoData runs;

	/*
	 * One pass over the settings and one over the backends (a new backend
	 * pays for every catalog it touches).  pg_settings lists real settings
	 * only, so a cron.timezone left in postgresql.conf for a pg_cron that
	 * does not know it (a placeholder) reads as absent.  pg_cron's
	 * row-level security shows a role that neither owns cron.job nor
	 * bypasses RLS only its own jobs: that must be said, not taken for
	 * "every other job was removed".
	 */
	stmts[0] = psprintf(
		"SELECT " EPOCH("now()") ", " CUT("s.timezone", 256) ", "
		CUT("(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')", 64) ", "
		"s.log_run, a.launchers, a.hidden, " CUT("current_user", MAX_ROLE_CHARS) ", "
		"CASE WHEN pg_catalog.to_regclass('cron.job') IS NOT NULL"
		"     THEN pg_catalog.row_security_active('cron.job') END, "
		"coalesce((SELECT c.relkind = 'r' AND o.rolsuper AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
		"            AND (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid"
		"                 AND a.attnum > 0 AND NOT a.attisdropped"
		"                 AND (a.attname::text, a.atttypid::pg_catalog.regtype::text) IN"
		"                     (('id', 'bigint'), ('status_code', 'integer'), ('timed_out', 'boolean'),"
		"                      ('error_msg', 'text'), ('content', 'text'), ('created', 'timestamp with time zone'))) = 6"
		/* by name: to_regclass() raises where the role may not use schema net */
		"          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles o ON o.oid = c.relowner"
		"          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		"          WHERE n.nspname = 'net' AND c.relname = '_http_response'"
		"            AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')), false), "
		CUT("current_database()", MAX_ROLE_CHARS) " "
		"FROM (SELECT max(setting) FILTER (WHERE name = 'cron.timezone') AS timezone,"
		"             max(setting) FILTER (WHERE name = 'cron.log_run') AS log_run"
		"      FROM pg_catalog.pg_settings WHERE name IN ('cron.timezone', 'cron.log_run')) s, "
		"     (SELECT count(*) FILTER (WHERE backend_type = 'pg_cron launcher'"
		"                              AND datid = (SELECT oid FROM pg_catalog.pg_database"
		"                                           WHERE datname = current_database())) AS launchers,"
		"             count(*) FILTER (WHERE backend_type IS NULL) AS hidden"
		"      FROM pg_catalog.pg_stat_get_activity(NULL) ) a");
	stmts[1] = pstrdup("SELECT max(runid) FROM cron.job_run_details WHERE runid <= " RUNID_CAP);
	stmts[2] = psprintf(
		"SELECT jobid, " CUT("jobname", MAX_NAME_CHARS) ", " CUT("schedule", MAX_SCHEDULE_CHARS) ", "
		CUT("command", MAX_COMMAND_CHARS) ", " CUT("username", MAX_ROLE_CHARS) ", "
		CUT("database", MAX_ROLE_CHARS) ", active "
		"FROM cron.job ORDER BY jobid LIMIT %d", COLLECT_MAX_JOBS + 1);

	initStringInfo(&runs);
	/* the latest finished run of each job, and unfinished runs after it */
	appendStringInfoString(&runs,
						   "WITH last AS (SELECT jobid, max(runid) AS runid FROM cron.job_run_details "
						   "  WHERE status IN ('succeeded', 'failed') AND runid <= " RUNID_CAP " GROUP BY jobid), "
						   "top AS (SELECT max(runid) AS runid FROM cron.job_run_details WHERE runid <= " RUNID_CAP ") ");
	if (p->has_high_water)
	{
		appendStringInfo(&runs,
						 "SELECT " RUN_COLUMNS " FROM cron.job_run_details d "
						 "WHERE (SELECT runid FROM top) >= " INT64_FORMAT " AND d.runid <= " RUNID_CAP
						 " AND (d.runid > " INT64_FORMAT,
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
	appendStringInfo(&runs,
					 "(d.runid = l.runid OR (d.status NOT IN ('succeeded', 'failed') "
					 "AND d.runid > coalesce(l.runid, 0))) ORDER BY 2 LIMIT %d",
					 COLLECT_MAX_RUNS + 1);
	stmts[3] = runs.data;
	if (!p->pg_net_readable)
		return NSTATEMENTS - 1;

	/*
	 * (Only pg_net's own table, a superuser's with pg_net's columns, counts
	 * as readable: read by a superuser, a view of another role's could run
	 * that role's functions.)
	 *
	 * Responses by their time (pg_net indexes created): the last 5
	 * minutes (what project_status counts), and back to where the oldest
	 * run still waiting for its response started.
	 */
	if (p->pg_net_since != COLLECT_NO_TIME)
		stmts[4] = psprintf("SELECT id, status_code, timed_out, " CUT("error_msg", MAX_RESPONSE_CHARS) ", "
							FAILED_CONTENT ", " EPOCH("created")
							" FROM net._http_response"
							" WHERE created >= least(pg_catalog.to_timestamp(%.6f), now() - interval '5 minutes')"
							" ORDER BY created, id LIMIT %d",
							(double) p->pg_net_since / 1000000.0, COLLECT_MAX_RESPONSES + 1);
	else
		stmts[4] = psprintf("SELECT id, status_code, timed_out, " CUT("error_msg", MAX_RESPONSE_CHARS) ", "
							FAILED_CONTENT ", " EPOCH("created")
							" FROM net._http_response WHERE created >= now() - interval '5 minutes'"
							" ORDER BY created, id LIMIT %d", COLLECT_MAX_RESPONSES + 1);
	return NSTATEMENTS;
}

void
CollectParamsOf(const ProjectState *p, CollectParams *cp)
{
	cp->has_high_water = p->has_high_water;
	cp->high_water = p->high_water;
	cp->open_runs = p->open_runs;
	cp->nopen = p->nopen;
	cp->pg_net_readable = p->pg_net_readable;
	cp->pg_net_since = p->pg_net_since;
	cp->query_timeout_ms = supamon_query_timeout;
}

/*
 * The remote query: one read-only transaction, so that every statement sees
 * the same snapshot (a job and its run created between two statements are
 * never half seen), and SET LOCAL, so that nothing of supamon's session
 * set-up outlives it on a server connection that a transaction-mode pooler
 * (Supavisor's port 6543) hands to other clients.
 */
char *
CollectSqlOf(const void *params)
{
	const CollectParams *p = params;

	/* built apart and copied at its size: the pieces are not kept */
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(outer, "supamon collection text",
											   ALLOCSET_DEFAULT_SIZES);
	char	   *stmts[NSTATEMENTS];
	int			n;
	StringInfoData sql;
	char	   *result;

	MemoryContextSwitchTo(work);
	n = build_statements(p, stmts);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
					 "SET LOCAL search_path = pg_catalog; SET LOCAL TimeZone = 'UTC'; "
					 "SET LOCAL DateStyle = 'ISO'; SET LOCAL statement_timeout = %d; "
					 "SET LOCAL lock_timeout = %d; ",
					 p->query_timeout_ms, p->query_timeout_ms);
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, "%s; ", stmts[i]);
	appendStringInfoString(&sql, "COMMIT");
	result = MemoryContextStrdup(outer, sql.data);
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(work);
	return result;
}

static const char *
rs_get(const RemoteRows *rs, int row, int col)
{
	return rs->values[row * rs->ncols + col];
}

static char *
rs_text(const RemoteRows *rs, int row, int col, int maxchars)
{
	return SupamonCleanText(rs_get(rs, row, col), maxchars);
}

/* A whole decimal integer that fits in int64; false for anything else. */
static bool
parse_int64(const char *s, int64 *out)
{
	char	   *end;

	/* digits and an optional minus only: strtol's "+1" or " 1" would twin "1" */
	if (s == NULL || !(isdigit((unsigned char) s[0]) || (s[0] == '-' && isdigit((unsigned char) s[1]))))
		return false;
	errno = 0;
	*out = strtoi64(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Whether a boolean as text says false (f, false, off, no, 0, any case). */
static bool
parse_false(const char *s)
{
	return s != NULL && (pg_strcasecmp(s, "f") == 0 || pg_strcasecmp(s, "false") == 0 ||
						 pg_strcasecmp(s, "off") == 0 || pg_strcasecmp(s, "no") == 0 ||
						 strcmp(s, "0") == 0);
}

/*
 * Seconds since 1970 in decimal ("1732950000.123456", "-62135596800")
 * as microseconds, within PostgreSQL's timestamp range; false for anything
 * else (NULL, 'Infinity', junk, out of range).
 */
static bool
parse_epoch(const char *s, int64 *usecs)
{
	bool		neg = false;
	int64		secs = 0;
	int64		frac = 0;
	int			digits = 0;
	int64		t;

	if (s == NULL)
		return false;
	if (*s == '-')
	{
		neg = true;
		s++;
	}
	if (!isdigit((unsigned char) *s))
		return false;
	for (; isdigit((unsigned char) *s); s++)
	{
		/* PostgreSQL's timestamps end near 9.5e12 seconds from 1970 */
		if (secs > (int64) 10000000000000)
			return false;
		secs = secs * 10 + (*s - '0');
	}
	if (*s == '.')
	{
		for (s++; isdigit((unsigned char) *s); s++)
			if (digits++ < 6)
				frac = frac * 10 + (*s - '0');
		if (digits == 0)
			return false;
	}
	if (*s != '\0')
		return false;
	for (; digits < 6; digits++)
		frac *= 10;
	t = secs * 1000000 + frac;
	if (neg)
		t = -t;
	/* within timestamptz's range (as microseconds since 2000 it must be valid) */
	if (!IS_VALID_TIMESTAMP(t - ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)))
		return false;
	*usecs = t;
	return true;
}

/* pg_net's responses, as far as they make sense; the rest dropped. */
static void
interpret_responses(RemoteRows *rs, ProjectSnapshot *snap)
{
	int			n = Min(rs->nrows, COLLECT_MAX_RESPONSES);

	snap->pg_net_read = true;
	snap->responses_truncated = rs->nrows > COLLECT_MAX_RESPONSES;
	snap->responses = palloc0(sizeof(NetResponse) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		NetResponse *r = &snap->responses[snap->nresponses];
		int64		status = 0;

		CHECK_FOR_INTERRUPTS();
		if (!parse_int64(rs_get(rs, i, 0), &r->id) ||
			!parse_epoch(rs_get(rs, i, 5), &r->created) ||
			r->created > snap->remote_now + FUTURE_SLACK_USECS)
			continue;
		if (rs_get(rs, i, 1) && (!parse_int64(rs_get(rs, i, 1), &status) || status < 0 || status > 999))
			status = 0;
		r->status = (int) status;
		r->timed_out = rs_get(rs, i, 2) != NULL && strcmp(rs_get(rs, i, 2), "t") == 0;
		r->error = rs_get(rs, i, 3) ? SupamonRedacted(rs_get(rs, i, 3), MAX_RESPONSE_CHARS) : NULL;
		r->content = rs_get(rs, i, 4) ? SupamonRedacted(rs_get(rs, i, 4), MAX_RESPONSE_CHARS) : NULL;
		snap->nresponses++;
	}
}

/*
 * Turns the result sets into a snapshot.  Every value is the
 * project's and untrusted: a NULL, junk or out-of-range value that supamon
 * needs makes the collection fail with the reason; one it can do without is
 * dropped and counted.
 */
static void
interpret(RemoteRows *sets, ProjectSnapshot *snap)
{
	RemoteRows *facts = &sets[0];
	RemoteRows *top = &sets[1];
	RemoteRows *jobs = &sets[2];
	RemoteRows *runs = &sets[3];
	ProjectState *p = snap->project;
	int64		launchers,
				hidden;
	int			nruns;
	HTAB	   *seen;
	bool		found;

	snap->ok = false;
	if (facts->nrows != 1 || facts->ncols != 10 || top->nrows != 1 || top->ncols != 1 ||
		jobs->ncols != 7 || runs->ncols != 6 || (p->pg_net_readable && sets[4].ncols != 6))
	{
		snap->error = pstrdup("unexpected result shape from the project");
		return;
	}
	if (jobs->nrows > COLLECT_MAX_JOBS)
	{
		snap->error = psprintf("cron.job has more than %d jobs; supamon reads at most that many",
							   COLLECT_MAX_JOBS);
		return;
	}

	if (!parse_epoch(rs_get(facts, 0, 0), &snap->remote_now))
	{
		snap->error = pstrdup("the project's clock (now()) is not a valid time");
		return;
	}
	snap->cron_timezone = rs_text(facts, 0, 1, 256);
	snap->pgcron_version = rs_text(facts, 0, 2, 64);
	snap->log_run = rs_get(facts, 0, 3) == NULL || strcmp(rs_get(facts, 0, 3), "on") == 0;
	if (!parse_int64(rs_get(facts, 0, 4), &launchers) || !parse_int64(rs_get(facts, 0, 5), &hidden))
		launchers = hidden = -1;
	if (launchers > 0)
		snap->scheduler = 1;
	else if (launchers < 0 || hidden > 0)
		snap->scheduler = -1;	/* some backends are hidden from this role */
	else
		snap->scheduler = 0;
	snap->role = rs_text(facts, 0, 6, MAX_ROLE_CHARS);
	snap->rls_active = rs_get(facts, 0, 7) != NULL && strcmp(rs_get(facts, 0, 7), "t") == 0;
	snap->pg_net_readable = rs_get(facts, 0, 8) != NULL && strcmp(rs_get(facts, 0, 8), "t") == 0;
	snap->database = rs_text(facts, 0, 9, MAX_ROLE_CHARS);

	snap->has_max_runid = rs_get(top, 0, 0) != NULL;
	if (snap->has_max_runid && !parse_int64(rs_get(top, 0, 0), &snap->max_runid))
	{
		snap->error = pstrdup("cron.job_run_details: max(runid) is not an integer");
		return;
	}
	snap->bootstrapped = !p->has_high_water ||
		!snap->has_max_runid || snap->max_runid < p->high_water;

	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64);
		ctl.hcxt = CurrentMemoryContext;
		seen = hash_create("supamon jobids", Max(jobs->nrows, 16), &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	snap->njobs = jobs->nrows;
	snap->jobs = palloc0(sizeof(CronJobRow) * Max(jobs->nrows, 1));
	for (int i = 0; i < jobs->nrows; i++)
	{
		CronJobRow *j = &snap->jobs[i];

		CHECK_FOR_INTERRUPTS();
		if (!parse_int64(rs_get(jobs, i, 0), &j->jobid))
		{
			snap->error = psprintf("cron.job has a job whose jobid is %s",
								   rs_get(jobs, i, 0) ? "not an integer" : "NULL");
			hash_destroy(seen);
			return;
		}
		/* a view may order them as it likes: twins are found by hash */
		(void) hash_search(seen, &j->jobid, HASH_ENTER, &found);
		if (found)
		{
			snap->error = psprintf("cron.job lists jobid " INT64_FORMAT " more than once", j->jobid);
			hash_destroy(seen);
			return;
		}
		j->jobname = rs_text(jobs, i, 1, MAX_NAME_CHARS);
		j->schedule = rs_text(jobs, i, 2, MAX_SCHEDULE_CHARS);
		j->command = SupamonRedacted(rs_get(jobs, i, 3), MAX_COMMAND_CHARS);
		j->username = rs_text(jobs, i, 4, MAX_ROLE_CHARS);
		j->database = rs_text(jobs, i, 5, MAX_ROLE_CHARS);
		/* only a clear "false" pauses: a job supamon cannot read is watched */
		j->active = !parse_false(rs_get(jobs, i, 6));
	}
	/* its own memory context: held until the snapshot is recorded otherwise */
	hash_destroy(seen);

	nruns = runs->nrows;
	if (nruns > COLLECT_MAX_RUNS)
	{
		/* the oldest first: the rest is read by the next collection */
		nruns = COLLECT_MAX_RUNS;
		snap->runs_truncated = true;
	}
	snap->runs = palloc0(sizeof(CronRunRow) * Max(nruns, 1));
	snap->nruns = 0;
	for (int i = 0; i < nruns; i++)
	{
		CronRunRow *r = &snap->runs[snap->nruns];
		char	   *status;

		CHECK_FOR_INTERRUPTS();
		status = (char *) rs_get(runs, i, 2);
		if (!parse_int64(rs_get(runs, i, 0), &r->jobid) ||
			!parse_int64(rs_get(runs, i, 1), &r->runid) || status == NULL ||
			!(RUN_IS_FINISHED(status) || RUN_IS_IN_PROGRESS(status)))
		{
			snap->ignored_runs++;
			continue;
		}
		r->status = pstrdup(status);
		r->message = SupamonRedacted(rs_get(runs, i, 3), MAX_MESSAGE_CHARS);
		if (!parse_epoch(rs_get(runs, i, 4), &r->start_time))
			r->start_time = COLLECT_NO_TIME;
		if (!parse_epoch(rs_get(runs, i, 5), &r->end_time))
			r->end_time = COLLECT_NO_TIME;
		/* a time beyond the project's own clock is not a time it has seen */
		if (r->start_time != COLLECT_NO_TIME && r->start_time > snap->remote_now + FUTURE_SLACK_USECS)
		{
			r->start_time = COLLECT_NO_TIME;
			snap->future_times++;
		}
		if (r->end_time != COLLECT_NO_TIME && r->end_time > snap->remote_now + FUTURE_SLACK_USECS)
		{
			r->end_time = COLLECT_NO_TIME;
			snap->future_times++;
		}
		snap->nruns++;
	}
	/* a cut history is remembered as read only up to where it was cut */
	if (snap->runs_truncated && !snap->bootstrapped)
	{
		int64		last;

		if (parse_int64(rs_get(runs, nruns - 1, 1), &last))
			snap->max_runid = last;
	}
	if (p->pg_net_readable)
		interpret_responses(&sets[4], snap);
	snap->ok = true;
}

/*
 * interpret() with what it makes in the snapshot's own memory context, so
 * that CollectRelease can free it once the project is recorded; its error
 * (which outlives that) stays in the caller's.
 */
static void
interpret_apart(RemoteRows *sets, ProjectSnapshot *snap)
{
	MemoryContext outer = CurrentMemoryContext;

	if (snap->rows_cxt == NULL)
		snap->rows_cxt = AllocSetContextCreate(outer, "supamon snapshot", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(snap->rows_cxt);
	interpret(sets, snap);
	MemoryContextSwitchTo(outer);
	if (snap->error)
		snap->error = pstrdup(snap->error);
}

/* Reads a remote project's answer into its snapshot (see collect.h). */
void
CollectFromRemote(RemoteRequest *r, ProjectSnapshot *snap)
{
	snap->elapsed_ms = r->elapsed_ms;
	if (!r->ok)
	{
		snap->ok = false;
		snap->error = SupamonRedacted(r->error ? r->error : "failed", 0);
		return;
	}
	if (r->nsets != (snap->project->pg_net_readable ? NSTATEMENTS : NSTATEMENTS - 1))
	{
		snap->ok = false;
		snap->error = pstrdup("unexpected results from the project");
		return;
	}
	interpret_apart(r->sets, snap);
}

/*
 * Reading this database's cron schema runs whatever its views call with the
 * rights of the caller, a superuser: a role that could create cron.job as a
 * view over a function of its own would have that function run as
 * superuser.  So the two relations are locked (they cannot be swapped
 * until the end of the transaction) and must belong to a superuser, as
 * pg_cron's own tables do; otherwise the local project is refused.
 */
static void
check_local_owners(bool pg_net)
{
	SupamonRunText(pg_net ?
				   "LOCK TABLE cron.job, cron.job_run_details, net._http_response IN ACCESS SHARE MODE" :
				   "LOCK TABLE cron.job, cron.job_run_details IN ACCESS SHARE MODE",
				   false, SPI_OK_UTILITY);
	if (SupamonRunText(pg_net ?
					   "SELECT c.oid::pg_catalog.regclass::text, r.rolname::text FROM pg_catalog.pg_class c"
					   " JOIN pg_catalog.pg_roles r ON r.oid = c.relowner"
					   " WHERE c.oid IN ('cron.job'::pg_catalog.regclass,"
					   "                 'cron.job_run_details'::pg_catalog.regclass,"
					   "                 'net._http_response'::pg_catalog.regclass)"
					   "   AND (NOT r.rolsuper OR c.relkind <> 'r') ORDER BY 1" :
					   "SELECT c.oid::pg_catalog.regclass::text, r.rolname::text FROM pg_catalog.pg_class c"
					   " JOIN pg_catalog.pg_roles r ON r.oid = c.relowner"
					   " WHERE c.oid IN ('cron.job'::pg_catalog.regclass,"
					   "                 'cron.job_run_details'::pg_catalog.regclass)"
					   "   AND NOT r.rolsuper ORDER BY 1", true, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s belongs to role %s, or is not a table: supamon reads a local cron or net schema only when a superuser owns its tables",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
}

/* What read_local fills. */
typedef struct LocalWork
{
	int			nstmts;
	char	  **stmts;
	RemoteRows *sets;
} LocalWork;

/* The statements through SPI, their rows copied out of SPI's memory. */
static void
read_local(void *arg)
{
	LocalWork  *w = arg;

	check_local_owners(w->nstmts == NSTATEMENTS);
	for (int i = 0; i < w->nstmts; i++)
	{
		RemoteRows *rs = &w->sets[i];

		rs->nrows = (int) SupamonRunText(w->stmts[i], true, SPI_OK_SELECT);
		rs->ncols = SPI_tuptable->tupdesc->natts;
		rs->values = palloc0(sizeof(char *) * Max(rs->nrows * rs->ncols, 1));
		for (int row = 0; row < rs->nrows; row++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int col = 0; col < rs->ncols; col++)
			{
				char	   *v = SPI_getvalue(SPI_tuptable->vals[row],
											 SPI_tuptable->tupdesc, col + 1);

				rs->values[row * rs->ncols + col] = v;
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
}

/* A cancel or a timeout is the caller's, not the project's. */
static bool
is_cancel(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_QUERY_CANCELED;
}

/*
 * This database's own pg_cron, read through SPI.  A failure (no cron schema,
 * no permission) is the project's error, not the caller's: the statements run
 * in a subtransaction that is rolled back on error.  They run read-only, so
 * all see the caller's one snapshot.
 */
void
CollectLocal(ProjectSnapshot *snap)
{
	TimestampTz start = GetCurrentTimestamp();
	char	   *stmts[NSTATEMENTS];
	RemoteRows	sets[NSTATEMENTS];
	LocalWork	w = {0, stmts, sets};
	CollectParams params;
	ErrorData  *edata;
	MemoryContext outer = CurrentMemoryContext;

	/* the rows read go with the snapshot's (CollectRelease) */
	snap->rows_cxt = AllocSetContextCreate(outer, "supamon snapshot", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(snap->rows_cxt);
	CollectParamsOf(snap->project, &params);
	w.nstmts = build_statements(&params, stmts);
	edata = SupamonSubtransaction(read_local, &w, is_cancel);
	MemoryContextSwitchTo(outer);

	snap->elapsed_ms = (int) ((GetCurrentTimestamp() - start) / 1000);
	if (edata)
	{
		snap->ok = false;
		snap->error = SupamonRedacted(edata->message, 1000);
		FreeErrorData(edata);
		return;
	}
	interpret_apart(sets, snap);
}

/* Frees what a snapshot read once it is recorded (see collect.h). */
void
CollectRelease(ProjectSnapshot *snap)
{
	if (snap->rows_cxt)
		MemoryContextDelete(snap->rows_cxt);
	snap->rows_cxt = NULL;
	snap->njobs = snap->nruns = snap->nresponses = 0;
	snap->jobs = NULL;
	snap->runs = NULL;
	snap->responses = NULL;
	snap->cron_timezone = snap->pgcron_version = snap->role = snap->database = NULL;
}
