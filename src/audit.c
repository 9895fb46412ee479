/*
 * audit.c
 *		supamon_audit(project DEFAULT NULL): discover every enabled project's
 *		pg_cron jobs and new runs, all projects at once.
 *
 * Flow: lock the projects' rows (so two audits never record the same runs
 * twice), collect this database's own pg_cron through SPI and every remote
 * project through libpq concurrently (each answer read into its snapshot as
 * it comes), then record each snapshot.  A project
 * that is down, hung, slow, without a cron schema or without permission is
 * recorded with its reason; the audit itself never fails because of it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "audit.h"
#include "collect.h"
#include "inventory.h"
#include "pool.h"
#include "remote.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_audit);

static SupamonStatement lock_projects = {
	.sql = "SELECT name, conninfo, run_high_water, open_run_ids, supabase_ref,"
		" coalesce(api_blocked_until, '-infinity'), coalesce(pg_net_readable, false),"
		" (extract(epoch FROM pg_net_read_until) * 1000000)::int8,"
		" (extract(epoch FROM least(pg_net_read_until - interval '2 minutes',"
		"   (SELECT min(r.started_at) FROM supamon.pg_net_run r"
		"    WHERE r.project_name = p.name AND r.verdict IS NULL))) * 1000000)::int8"
		" FROM supamon.project p"
		" WHERE CASE WHEN $1 IS NULL THEN enabled ELSE name = $1 END"
		" ORDER BY name FOR NO KEY UPDATE",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * Reads and locks the projects to audit.
 */
static ProjectState *
load_projects(const char *only, int *n)
{
	Datum		values[1];
	char		nulls[2] = " ";
	ProjectState *projects;

	values[0] = only ? CStringGetTextDatum(only) : (Datum) 0;
	nulls[0] = only ? ' ' : 'n';
	*n = (int) SupamonRun(&lock_projects, values, nulls);
	if (only && *n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", only),
				 errhint("See supamon.project, or add it with supamon_add_project().")));

	projects = palloc0(sizeof(ProjectState) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ProjectState *p = &projects[i];
		bool		isnull;
		Datum		d;

		p->name = SPI_getvalue(tup, desc, 1);
		p->conninfo = SPI_getvalue(tup, desc, 2);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		p->has_high_water = !isnull;
		p->high_water = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *elem_nulls;

			deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, &elem_nulls, &p->nopen);
			p->open_runs = palloc(sizeof(int64) * Max(p->nopen, 1));
			for (int k = 0; k < p->nopen; k++)
				p->open_runs[k] = DatumGetInt64(elems[k]);
		}
		p->supabase_ref = SPI_getvalue(tup, desc, 5);
		p->api_blocked_until = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
		p->pg_net_readable = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		d = SPI_getbinval(tup, desc, 8, &isnull);
		p->pg_net_read_until = isnull ? COLLECT_NO_TIME : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 9, &isnull);
		p->pg_net_since = isnull ? COLLECT_NO_TIME : DatumGetInt64(d);
	}
	return projects;
}

static SupamonStatement read_function_stats = {
	.sql = "SELECT project_name, job_name,"
		" coalesce((extract(epoch FROM stats_at) * 1000000)::int8, -9223372036854775808)"
		" FROM supamon.job_inventory"
		" WHERE job_type = 'edge_function' AND removed_at IS NULL"
		" ORDER BY project_name, job_name COLLATE \"C\"",
	.expect = SPI_OK_SELECT
};

/*
 * When each project's Edge Functions' traffic was last read, so that a check
 * asks first about the functions read longest ago.  Projects and functions
 * come sorted by name.
 */
static EdgeKnown *
known_functions(ProjectState *projects, int n)
{
	EdgeKnown  *known = palloc0(sizeof(EdgeKnown) * Max(n, 1));
	HASHCTL		ctl;
	HTAB	   *index;

	typedef struct
	{
		char		name[NAMEDATALEN];
		int			i;
	}			Slot;

	/* project names are at most 63 characters (a CHECK of the table) */
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(Slot);
	ctl.hcxt = CurrentMemoryContext;
	index = hash_create("supamon projects", Max(n, 16), &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int i = 0; i < n; i++)
	{
		Slot	   *slot = hash_search(index, projects[i].name, HASH_ENTER, NULL);

		slot->i = i;
	}
	SupamonRun(&read_function_stats, NULL, NULL);
	/* two passes: each project's arrays sized to its own functions */
	for (int pass = 0; pass < 2; pass++)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *project = SPI_getvalue(tup, desc, 1);
			Slot	   *slot = strlen(project) < NAMEDATALEN ?
				hash_search(index, project, HASH_FIND, NULL) : NULL;
			bool		isnull;
			EdgeKnown  *k;

			pfree(project);
			if (slot == NULL)
				continue;
			k = &known[slot->i];
			if (pass == 0)
			{
				k->n++;
				continue;
			}
			k->slugs[k->n] = SPI_getvalue(tup, desc, 2);
			k->stats_at[k->n] = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			k->n++;
		}
		for (int i = 0; pass == 0 && i < n; i++)
		{
			known[i].slugs = palloc(sizeof(char *) * Max(known[i].n, 1));
			known[i].stats_at = palloc(sizeof(int64) * Max(known[i].n, 1));
			known[i].n = 0;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return known;
}

/*
 * A project whose pg_net table went away (or out of reach) since the last
 * collection failed only for that: read again without it, in a second
 * round, rather than called unreachable.
 */
static void
recollect_without_pg_net(ProjectSnapshot *snaps, const bool *recorded, int n)
{
	RemoteRequest *reqs = palloc0(sizeof(RemoteRequest) * Max(n, 1));
	CollectParams *params = palloc(sizeof(CollectParams) * Max(n, 1));
	const char **names = palloc(sizeof(char *) * Max(n, 1));
	int		   *req_of = palloc(sizeof(int) * Max(n, 1));
	int			nreq = 0;

	for (int i = 0; i < n; i++)
	{
		ProjectSnapshot *s = &snaps[i];
		ProjectState *p = s->project;

		if (recorded[i] || s->ok || !p->pg_net_readable || s->error == NULL ||
			strstr(s->error, "_http_response") == NULL)
			continue;
		p->pg_net_readable = false;
		/* its Management API answers are in run->edges, given at recording */
		CollectRelease(s);
		memset(s, 0, sizeof(*s));
		s->project = p;
		if (p->conninfo == NULL)
			CollectLocal(s);
		else
		{
			CollectParamsOf(p, &params[nreq]);
			reqs[nreq].conninfo = p->conninfo;
			reqs[nreq].make_sql = CollectSqlOf;
			reqs[nreq].sql_source = &params[nreq];
			reqs[nreq].max_bytes = (int64) supamon_max_answer_size * 1024;
			names[nreq] = p->name;
			req_of[nreq++] = i;
		}
	}
	if (nreq == 0)
		return;
	PG_TRY();
	{
		PoolExecuteAll(reqs, names, nreq, NULL, NULL);
		for (int r = 0; r < nreq; r++)
			CollectFromRemote(&reqs[r], &snaps[req_of[r]]);
	}
	PG_FINALLY();
	{
		RemoteReleaseAll(reqs, nreq);
	}
	PG_END_TRY();
}

/*
 * Whether an error raised while recording a project can be that project's
 * data (a value no constraint or type accepts, a row too large): then it
 * is the project's error.  Anything else (a cancel, a lock or statement
 * timeout, a serialization failure or deadlock, a read-only transaction, a
 * permission, the central server out of resources) is the central side's
 * and ends the whole call: blaming a healthy project for it would be a
 * false alarm.
 */
static bool
project_caused(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		class == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		sqlerrcode == ERRCODE_INTERNAL_ERROR ||
		sqlerrcode == ERRCODE_OUT_OF_MEMORY;
}

/* One project's recording, as SupamonSubtransaction runs it. */
typedef struct RecordWork
{
	ProjectSnapshot *snap;
	InventoryCounts *counts;
	AuditProjectHook hook;
	void	   *arg;
} RecordWork;

static bool central_caused(int sqlerrcode);

static void
record_pg_net(void *arg)
{
	PgNetRecord((ProjectSnapshot *) arg);
}

static void
record_edge(void *arg)
{
	InventoryRecordEdge((ProjectSnapshot *) arg);
}

/*
 * What pg_net and the Management API said are extras: when they cannot be
 * recorded (their data is the project's), only they are lost, with why.
 */
static void
record_edge_part(ProjectSnapshot *snap)
{
	ErrorData  *edata;

	/* (a project not asked about has nothing of it to record) */
	if ((snap->edge.asked || snap->edge.rate_limited) &&
		(edata = SupamonSubtransaction(record_edge, snap, central_caused)) != NULL)
	{
		EdgeSnapshot *e = &snap->edge;

		e->ok = false;
		e->refused = false;
		e->nfunctions = 0;
		e->error = SupamonCleanText(psprintf("supamon could not record what the Management API said: %s",
											 edata->message), 300);
		FreeErrorData(edata);
		InventoryRecordEdge(snap);
	}
}

static void
record_pg_net_part(ProjectSnapshot *snap)
{
	ErrorData  *edata;

	if (snap->ok && (edata = SupamonSubtransaction(record_pg_net, snap, central_caused)) != NULL)
	{
		snap->pg_net_error = SupamonCleanText(edata->message, 300);
		FreeErrorData(edata);
	}
}

static void
record_work(void *arg)
{
	RecordWork *w = arg;

	/*
	 * The Management API's part first: its upsert of a function's row may
	 * wait for another session's lock (supamon_ack() locks every row of a
	 * name), and what that session commits must be in the pg_cron rows read
	 * next, which the check decides from (inventory.h, rows).
	 */
	record_edge_part(w->snap);
	if (w->snap->ok)
		InventoryRecord(w->snap, w->counts);
	else
		InventoryRecordFailure(w->snap);
	record_pg_net_part(w->snap);
	if (w->hook)
		w->hook(w->snap, w->arg);
	/* what the hook did not write with its own (a check writes them with the statuses) */
	if (w->snap->ok)
		InventoryWriteRuns(w->snap);
}

static bool
central_caused(int sqlerrcode)
{
	return !project_caused(sqlerrcode);
}

/*
 * Records one project (and runs the hook) in a subtransaction; false, with
 * the project's error set, when its data made that fail.
 */
static bool
record_in_subtransaction(ProjectSnapshot *snap, InventoryCounts *counts,
						 AuditProjectHook hook, void *arg)
{
	RecordWork	w = {snap, counts, hook, arg};
	ErrorData  *edata = SupamonSubtransaction(record_work, &w, central_caused);

	/*
	 * A run logged already (by another check of the project at once): the
	 * same again, logging only what is not.  What the first try wrote went
	 * with its subtransaction, and the hook had not run (the runs are
	 * logged before it).
	 */
	if (edata && edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && snap->ok &&
		!snap->runs_logged_maybe && edata->constraint_name &&
		strcmp(edata->constraint_name, "job_health_log_job_run_idx") == 0)
	{
		FreeErrorData(edata);
		snap->runs_logged_maybe = true;
		snap->recorded = NULL;
		snap->facts = NULL;
		memset(counts, 0, sizeof(InventoryCounts));
		edata = SupamonSubtransaction(record_work, &w, central_caused);
	}
	if (edata == NULL)
		return true;
	snap->ok = false;
	snap->recorded = NULL;
	snap->facts = NULL;
	snap->error = SupamonCleanText(psprintf("supamon could not record this project's data: %s",
											edata->message), 1000);
	/* the Management API's answer may have been the culprit: left out too */
	memset(&snap->edge, 0, sizeof(EdgeSnapshot));
	FreeErrorData(edata);
	return false;
}

/*
 * Projects are recorded while the others are read, so that a check holds
 * the answers in flight, not the fleet's.  A recording then must never keep
 * what is in flight waiting (the projects', the Management API's and the
 * collector's deadlines run on): each waits for a lock at most
 * STREAM_LOCK_TIMEOUT_MS (one that waits longer is rolled back, and that
 * project and every later one are recorded once the collection is over, as
 * without streaming); a turn records for STREAM_TURN_MS at most; and no
 * more answers are asked for while STREAM_BACKLOG wait to be recorded.
 */
#define STREAM_LOCK_TIMEOUT_MS 100
#define STREAM_TURN_MS 20
#define STREAM_BACKLOG 32

/* One audit or check: what AuditAll and its callbacks share. */
typedef struct AuditRun
{
	ProjectSnapshot *snaps;
	EdgeSnapshot *edges;		/* what the Management API said, as it comes */
	RemoteRequest *reqs;
	int		   *req_of;			/* request -> project */
	InventoryCounts *counts;
	AuditProjectHook hook;
	void	   *arg;
	size_t		arg_size;		/* what a rolled-back recording restores */
	void	   *arg_saved;
	MemoryContext outer;
	bool	   *recorded;
	bool		streaming;		/* projects are recorded as they come */
	int		   *ready;			/* answered, to record (a FIFO) */
	int			ready_head;
	int			ready_tail;
	int		   *waiting;		/* answered, their Edge Functions not yet */
	int			nwaiting;
} AuditRun;

/*
 * Records project i (and runs the hook), in an SPI connection of its own:
 * what recording and deciding it allocate, the rows its statements return
 * included, is freed once it is done, and so are its snapshot's rows.
 */
static void
record_one(AuditRun *run, int i)
{
	ProjectSnapshot *snap = &run->snaps[i];

	CHECK_FOR_INTERRUPTS();
	snap->edge = run->edges[i];
	SPI_connect();
	memset(&run->counts[i], 0, sizeof(InventoryCounts));
	if (!record_in_subtransaction(snap, &run->counts[i], run->hook, run->arg))
	{
		/*
		 * What the project sent could not be recorded: it is recorded as the
		 * project's failure instead (its jobs keep their last known state),
		 * which cannot depend on that data.
		 */
		memset(&run->counts[i], 0, sizeof(InventoryCounts));
		if (!record_in_subtransaction(snap, &run->counts[i], run->hook, run->arg))
			elog(ERROR, "supamon: could not record project \"%s\": %s",
				 snap->project->name, snap->error);
	}
	if (snap->error)
		snap->error = MemoryContextStrdup(run->outer, snap->error);
	SPI_finish();
	/* what lived in that connection is gone; the rest is not needed again */
	snap->recorded = NULL;
	snap->facts = NULL;
	snap->pg_net_error = NULL;
	memset(&snap->edge, 0, sizeof(EdgeSnapshot));
	CollectRelease(snap);
	run->recorded[i] = true;
}

typedef struct StreamWork
{
	AuditRun   *run;
	int			i;
} StreamWork;

static void
record_with_lock_limit(void *arg)
{
	StreamWork *w = arg;
	int			nest = NewGUCNestLevel();
	char		limit[32];

	/* the caller's own lock_timeout if shorter */
	snprintf(limit, sizeof(limit), "%d",
			 LockTimeout > 0 ? Min(LockTimeout, STREAM_LOCK_TIMEOUT_MS) : STREAM_LOCK_TIMEOUT_MS);
	(void) set_config_option("lock_timeout", limit, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	record_one(w->run, w->i);
	AtEOXact_GUC(true, nest);
}

static bool
not_a_lock_wait(int sqlerrcode)
{
	return sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * Records what is ready, for STREAM_TURN_MS at most.  A project whose
 * recording would wait for a lock is rolled back: it and the rest wait for
 * the end of the collection (recording them then may wait, as it always
 * did, with nothing in flight).
 */
static void
stream_turn(void *arg)
{
	AuditRun   *run = arg;
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), STREAM_TURN_MS);
	bool		recorded = false;

	if (!run->streaming)
		return;
	for (int k = 0; k < run->nwaiting;)
	{
		int			i = run->waiting[k];

		if (run->edges[i].settled)
		{
			run->ready[run->ready_tail++] = i;
			run->waiting[k] = run->waiting[--run->nwaiting];
		}
		else
			k++;
	}
	while (run->ready_head < run->ready_tail)
	{
		StreamWork	w = {run, run->ready[run->ready_head]};
		ErrorData  *edata;

		/* what the hook adds up is not rolled back with the subtransaction */
		if (run->arg_size > 0)
			memcpy(run->arg_saved, run->arg, run->arg_size);
		edata = SupamonSubtransaction(record_with_lock_limit, &w, not_a_lock_wait);
		if (edata)
		{
			ProjectSnapshot *snap = &run->snaps[w.i];

			FreeErrorData(edata);
			if (run->arg_size > 0)
				memcpy(run->arg, run->arg_saved, run->arg_size);
			snap->recorded = NULL;
			snap->facts = NULL;
			snap->pg_net_error = NULL;
			memset(&run->counts[w.i], 0, sizeof(InventoryCounts));
			run->streaming = false;
			/* the collector may hold answers this process did not take: look */
			SetLatch(MyLatch);
			return;
		}
		run->ready_head++;
		recorded = true;
		if (GetCurrentTimestamp() >= until)
			break;
	}

	/*
	 * The next wait must not sleep: more may be ready, or room was made for
	 * answers the collector holds (which it will not signal again).
	 */
	if (recorded)
		SetLatch(MyLatch);
}

/* Whether enough answers wait to be recorded: none more is asked for. */
static bool
stream_full(void *arg)
{
	AuditRun   *run = arg;

	return run->streaming &&
		(run->ready_tail - run->ready_head) + run->nwaiting >= STREAM_BACKLOG;
}

/*
 * A project's database answered: its answer is read into its snapshot at
 * once and the rows as sent are freed (the snapshot is a fraction of them);
 * it is recorded at the end of this turn when its Management API's answers
 * are in too, else once they are.
 */
static void
project_answered(int r, void *arg)
{
	AuditRun   *run = arg;
	int			i = run->req_of[r];

	CollectFromRemote(&run->reqs[r], &run->snaps[i]);
	RemoteFreeRows(&run->reqs[r]);
	/* a failure may be read again without pg_net, or asked about: at the end */
	if (!run->streaming || !run->snaps[i].ok)
		return;
	if (!run->edges[i].asked || run->edges[i].settled)
		run->ready[run->ready_tail++] = i;
	else
		run->waiting[run->nwaiting++] = i;
}

ProjectSnapshot *
AuditAll(const char *only, AuditProjectHook hook, void *arg, size_t arg_size,
		 int *nprojects, InventoryCounts **counts)
{
	int			n;
	ProjectState *projects = load_projects(only, &n);
	AuditRun	run;
	RemoteRequest *reqs = palloc0(sizeof(RemoteRequest) * Max(n, 1));
	CollectParams *params = palloc(sizeof(CollectParams) * Max(n, 1));
	const char **names = palloc(sizeof(char *) * Max(n, 1));
	int			nreq = 0;
	const char **refs = palloc(sizeof(char *) * Max(n, 1));
	TimestampTz *blocked = palloc(sizeof(TimestampTz) * Max(n, 1));
	RemoteSideWork side;
	EdgeFleet  *volatile fleet = NULL;
	PoolListener listener = {project_answered, stream_turn, stream_full, &run};

	memset(&run, 0, sizeof(run));
	run.snaps = palloc0(sizeof(ProjectSnapshot) * Max(n, 1));
	run.edges = palloc0(sizeof(EdgeSnapshot) * Max(n, 1));
	run.reqs = reqs;
	run.req_of = palloc(sizeof(int) * Max(n, 1));
	run.counts = palloc0(sizeof(InventoryCounts) * Max(n, 1));
	run.hook = hook;
	run.arg = arg;
	run.arg_size = arg ? arg_size : 0;
	run.arg_saved = run.arg_size > 0 ? palloc(run.arg_size) : NULL;
	run.outer = CurrentMemoryContext;
	run.recorded = palloc0(sizeof(bool) * Max(n, 1));
	run.streaming = true;
	run.ready = palloc(sizeof(int) * Max(n, 1));
	run.waiting = palloc(sizeof(int) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		run.snaps[i].project = &projects[i];
		if (projects[i].conninfo == NULL)
			CollectLocal(&run.snaps[i]);
		else
		{
			CollectParamsOf(&projects[i], &params[nreq]);
			reqs[nreq].conninfo = projects[i].conninfo;
			reqs[nreq].make_sql = CollectSqlOf;
			reqs[nreq].sql_source = &params[nreq];
			reqs[nreq].max_bytes = (int64) supamon_max_answer_size * 1024;
			names[nreq] = projects[i].name;
			run.req_of[nreq++] = i;
		}
	}

	for (int i = 0; i < n; i++)
	{
		refs[i] = projects[i].supabase_ref;
		blocked[i] = projects[i].api_blocked_until;
	}
	memset(&side, 0, sizeof(side));

	PG_TRY();
	{
		/* the Management API is asked while the databases are read */
		fleet = EdgeFleetPlan(refs, blocked,
							  supamon_supabase_access_token && supamon_supabase_access_token[0] ?
							  known_functions(projects, n) : NULL,
							  run.edges, n, &side);
		PoolExecuteAll(reqs, names, nreq, fleet ? &side : NULL, &listener);
		/* then, where a database did not answer, whether Supabase paused it */
		if (fleet)
		{
			bool	   *down = palloc0(sizeof(bool) * Max(n, 1));

			for (int i = 0; i < n; i++)
				down[i] = !run.recorded[i] && !run.snaps[i].ok;
			if (EdgeFleetAskStatus(fleet, down, n))
				RemoteExecuteAll(NULL, 0, supamon_max_connections, supamon_connect_timeout,
								 supamon_query_timeout, &side, NULL);
		}
	}
	PG_FINALLY();
	{
		RemoteReleaseAll(reqs, nreq);
		EdgeFleetRelease(fleet);
	}
	PG_END_TRY();
	recollect_without_pg_net(run.snaps, run.recorded, n);
	for (int i = 0; i < n; i++)
		if (!run.recorded[i])
			record_one(&run, i);

	*nprojects = n;
	*counts = run.counts;
	return run.snaps;
}

/*
 * supamon_audit(project text DEFAULT NULL)
 *	RETURNS TABLE (project, reachable, jobs, new_jobs, removed_jobs,
 *				   runs_read, error, elapsed_ms)
 */
Datum
supamon_audit(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *only = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	ProjectSnapshot *snaps;
	InventoryCounts *counts;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	snaps = AuditAll(only, NULL, NULL, 0, &n, &counts);
	for (int i = 0; i < n; i++)
	{
		ProjectSnapshot *s = &snaps[i];
		InventoryCounts *c = &counts[i];
		Datum		values[8];
		bool		nulls[8] = {false};

		values[0] = CStringGetTextDatum(s->project->name);
		values[1] = BoolGetDatum(s->ok);
		values[2] = Int32GetDatum(c->jobs);
		values[3] = Int32GetDatum(c->new_jobs);
		values[4] = Int32GetDatum(c->removed_jobs);
		values[5] = Int32GetDatum(c->runs_read);
		values[6] = s->error ? CStringGetTextDatum(s->error) : (Datum) 0;
		nulls[6] = s->error == NULL;
		values[7] = Int32GetDatum(s->elapsed_ms);
		if (!s->ok)
			nulls[2] = nulls[3] = nulls[4] = nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
