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
 * costs a fixed number of statements whatever its size.  What needs
 * matching (a run to its job, a name to its twin, the jobs that are gone) is
 * matched here with hash tables, and every statement reaches the inventory
 * by its primary key, so no plan can turn quadratic whatever the planner's
 * statistics say.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "schedule_sql.h"
#include "supamon.h"

/* New jobs in one recording that make the inventory's statistics stale. */
#define ANALYZE_AFTER_NEW_JOBS 1000

/* Per-job summary of the runs in a snapshot. */
typedef struct JobRuns
{
	int64		last_runid;		/* latest finished run, 0 if none */
	const char *last_status;
	int64		last_start;
	int64		last_end;
	const char *last_message;
	int			failures;		/* consecutive failures at the end */
	bool		reset;			/* a success was seen: failures is absolute */
	bool		has_runs;
	int64		latest_start;	/* latest start of any run */
	bool		running;		/* a live unfinished run */
	int64		running_since;	/* the oldest one's start */
	int64		running_runid;	/* and its runid */
	const char *running_status;
	char		marks[STRIP_RUNS];	/* new finished runs, oldest first: 's', 'f' */
	int			nmarks;
} JobRuns;

/*
 * A mark of the run strip: a finished run that succeeded ('s') or failed
 * ('f'), or a fire missed ('m').  Symbols where the database speaks UTF-8,
 * letters a LATIN1 or SQL_ASCII database can hold elsewhere.
 */
const char *
SupamonStripMark(char what)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	switch (what)
	{
		case 's':
			return utf8 ? "\xE2\x9C\x93" : "+";	/* U+2713 check mark */
		case 'f':
			return utf8 ? "\xE2\x9C\x97" : "x";	/* U+2717 ballot x */
		default:
			return utf8 ? "\xC2\xB7" : ".";	/* U+00B7 middle dot */
	}
}

/* A jobid's place in the snapshot's job list. */
typedef struct JobSlot
{
	int64		jobid;			/* the key */
	int			index;
	int64		last_finished;	/* its latest finished runid known */
	int64		known_before;	/* the same, before this snapshot */
	int64		known_start;	/* its start, or COLLECT_NO_TIME */
} JobSlot;

/* The name a live inventory row holds for a jobid. */
typedef struct HeldName
{
	int64		jobid;			/* the key */
	char	   *name;
	int64		last_run_id;	/* 0 if none */
	int64		last_run_start; /* its start, Unix microseconds, or COLLECT_NO_TIME */
} HeldName;

/* A name taken, and how many jobs wanted it. */
typedef struct NameSlot
{
	const char *name;			/* the key */
	int			wanted;
} NameSlot;

static HTAB *job_table(ProjectSnapshot *snap);
static char **job_names(ProjectSnapshot *snap, HTAB *held);
static void last_finished_runs(ProjectSnapshot *snap, HTAB *jobs, HTAB *held);
static bool run_is_dead(const CronRunRow *r, HTAB *jobs);
static JobRuns *summarize_runs(ProjectSnapshot *snap, HTAB *jobs);

/* A hash table in the current memory context whose entries start with an int64 key. */
static HTAB *
int64_table(const char *name, uint64 size, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = entrysize;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, (long) Max(size, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * The snapshot's jobs by jobid (collect.c made the jobids unique).
 */
static HTAB *
job_table(ProjectSnapshot *snap)
{
	HTAB	   *h = int64_table("supamon jobs", snap->njobs, sizeof(JobSlot));

	for (int i = 0; i < snap->njobs; i++)
	{
		bool		found;
		JobSlot    *slot = hash_search(h, &snap->jobs[i].jobid, HASH_ENTER, &found);

		slot->index = i;
		slot->last_finished = 0;
		slot->known_before = 0;
		slot->known_start = COLLECT_NO_TIME;
	}
	return h;
}

/* The hash of a name key (a char *). */
static uint32
name_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

/* Whether two name keys are the same name. */
static int
name_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A hash table in the current memory context whose entries start with a name (char *). */
static HTAB *
name_table(int size, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = name_hash;
	ctl.match = name_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("supamon job names", Max(size, 16), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * The inventory name of each job, unique by construction whatever the
 * project holds: its jobname, or "job <jobid>" for an unnamed one.  Jobs
 * that share a name (two pg_cron users, a cut that made two names one)
 * become "name (user)"; where that is taken too, "name #jobid", then
 * "name #jobid-2"... A name held by one job only is never changed, so a
 * job's identity does not depend on the order of the others.
 */
static char **
job_names(ProjectSnapshot *snap, HTAB *held)
{
	int			n = snap->njobs;
	char	  **base = palloc(sizeof(char *) * Max(n, 1));
	char	  **names = palloc0(sizeof(char *) * Max(n, 1));
	HTAB	   *wanted = name_table(n, sizeof(NameSlot));
	HTAB	   *taken = name_table(n, sizeof(NameSlot));
	bool		found;

	for (int i = 0; i < n; i++)
	{
		CronJobRow *j = &snap->jobs[i];
		NameSlot   *slot;

		base[i] = j->jobname && j->jobname[0] ? j->jobname :
			psprintf("job " INT64_FORMAT, j->jobid);
		slot = hash_search(wanted, &base[i], HASH_ENTER, &found);
		slot->wanted = found ? slot->wanted + 1 : 1;
	}
	/*
	 * A job that already holds a name derived from its own keeps it, so that
	 * another role scheduling or dropping a job of the same name does not
	 * rename it (and strip what the user set on it).  A derived name
	 * ("name (role)", "name #jobid") gives way to a job that has it as its
	 * very name.
	 */
	for (int i = 0; i < n; i++)
	{
		HeldName   *h = hash_search(held, &snap->jobs[i].jobid, HASH_FIND, NULL);
		size_t		blen = strlen(base[i]);

		if (h == NULL || strncmp(h->name, base[i], blen) != 0 ||
			!(h->name[blen] == '\0' || strncmp(h->name + blen, " (", 2) == 0 ||
			  strncmp(h->name + blen, " #", 2) == 0))
			continue;
		if (hash_search(taken, &h->name, HASH_FIND, NULL) != NULL ||
			(h->name[blen] != '\0' && hash_search(wanted, &h->name, HASH_FIND, NULL) != NULL))
			continue;
		names[i] = h->name;
		(void) hash_search(taken, &names[i], HASH_ENTER, NULL);
	}
	for (int i = 0; i < n; i++)
	{
		NameSlot   *slot = hash_search(wanted, &base[i], HASH_FIND, NULL);

		if (names[i] == NULL && slot->wanted == 1 &&
			hash_search(taken, &base[i], HASH_FIND, NULL) == NULL)
		{
			names[i] = base[i];
			(void) hash_search(taken, &names[i], HASH_ENTER, NULL);
		}
	}
	for (int i = 0; i < n; i++)
	{
		CronJobRow *j = &snap->jobs[i];
		char	   *candidate = NULL;

		CHECK_FOR_INTERRUPTS();
		if (names[i])
			continue;
		if (j->username && j->username[0])
			candidate = psprintf("%s (%s)", base[i], j->username);
		for (int k = 1; candidate == NULL ||
			 hash_search(taken, &candidate, HASH_FIND, NULL) != NULL ||
			 hash_search(wanted, &candidate, HASH_FIND, NULL) != NULL; k++)
			candidate = k == 1 ? psprintf("%s #" INT64_FORMAT, base[i], j->jobid) :
				psprintf("%s #" INT64_FORMAT "-%d", base[i], j->jobid, k);
		names[i] = candidate;
		(void) hash_search(taken, &names[i], HASH_ENTER, NULL);
	}
	hash_destroy(wanted);
	hash_destroy(taken);
	return names;
}

/*
 * The latest finished runid of each job, from what was recorded before and
 * from the snapshot: an unfinished run older than that is dead (pg_cron
 * runs one instance of a job at a time; a crash or restart leaves such rows
 * behind), so it neither keeps the job "running" nor stays on the list of
 * runs to read again.
 */
static void
last_finished_runs(ProjectSnapshot *snap, HTAB *jobs, HTAB *held)
{
	for (int i = 0; i < snap->njobs; i++)
	{
		HeldName   *h = hash_search(held, &snap->jobs[i].jobid, HASH_FIND, NULL);
		JobSlot    *slot;

		if (h == NULL)
			continue;
		slot = hash_search(jobs, &snap->jobs[i].jobid, HASH_FIND, NULL);
		/*
		 * After a history read from scratch (runids went back: a restore),
		 * the runids recorded may be from before it; the run strip then
		 * tells runs it has by their start.
		 */
		if (snap->bootstrapped)
			slot->known_start = h->last_run_start;
		else
			slot->last_finished = slot->known_before = h->last_run_id;
	}
	for (int i = 0; i < snap->nruns; i++)
	{
		CronRunRow *r = &snap->runs[i];
		JobSlot    *slot;

		if (!RUN_IS_FINISHED(r->status))
			continue;
		slot = hash_search(jobs, &r->jobid, HASH_FIND, NULL);
		if (slot && r->runid > slot->last_finished)
			slot->last_finished = r->runid;
	}
}

static bool
run_is_dead(const CronRunRow *r, HTAB *jobs)
{
	JobSlot    *slot;

	if (RUN_IS_FINISHED(r->status))
		return false;
	slot = hash_search(jobs, &r->jobid, HASH_FIND, NULL);
	/* a run of a job gone from cron.job will never be read for a reason */
	return slot == NULL || r->runid < slot->last_finished;
}

/* When a run happened: its start, or its end for one that never started (failed to connect). */
static int64
run_time(const CronRunRow *r)
{
	return r->start_time != COLLECT_NO_TIME ? r->start_time : r->end_time;
}

/*
 * Folds the runs (in runid order) into one summary per job of the snapshot,
 * indexed like snap->jobs; runs of jobs no longer in cron.job are left out.
 */
static JobRuns *
summarize_runs(ProjectSnapshot *snap, HTAB *jobs)
{
	JobRuns    *out = palloc0(sizeof(JobRuns) * Max(snap->njobs, 1));

	for (int i = 0; i < snap->nruns; i++)
	{
		CronRunRow *r = &snap->runs[i];
		JobSlot    *slot = hash_search(jobs, &r->jobid, HASH_FIND, NULL);
		JobRuns    *j;

		CHECK_FOR_INTERRUPTS();
		if (slot == NULL)
			continue;
		j = &out[slot->index];
		if (!j->has_runs)
		{
			j->has_runs = true;
			j->last_start = j->last_end = j->latest_start = j->running_since = COLLECT_NO_TIME;
		}
		if (r->start_time != COLLECT_NO_TIME &&
			(j->latest_start == COLLECT_NO_TIME || r->start_time > j->latest_start))
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
			/* the run strip: each finished run once, the newest STRIP_RUNS kept */
			if (r->runid > slot->known_before &&
				(slot->known_start == COLLECT_NO_TIME ||
				 (run_time(r) != COLLECT_NO_TIME && run_time(r) > slot->known_start)))
			{
				if (j->nmarks == STRIP_RUNS)
				{
					memmove(j->marks, j->marks + 1, STRIP_RUNS - 1);
					j->nmarks--;
				}
				j->marks[j->nmarks++] = strcmp(r->status, "succeeded") == 0 ? 's' : 'f';
			}
		}
		else if (run_is_dead(r, jobs))
			continue;
		else if (!j->running ||
				 (r->start_time != COLLECT_NO_TIME && j->running_since != COLLECT_NO_TIME &&
				  r->start_time < j->running_since))
		{
			/* the oldest live unfinished run; one without start_time counts too */
			if (r->start_time != COLLECT_NO_TIME)
				j->running_since = r->start_time;
			j->running_runid = r->runid;
			j->running = true;
			j->running_status = r->status;
		}
	}
	return out;
}

static SupamonStatement update_failure = {
	.sql = "UPDATE supamon.project SET reachable = false, last_check_at = now(), "
		"last_error = $2, last_check_ms = $3 WHERE name = $1"
		" RETURNING " PROJECT_FACTS_COLUMNS("$4"),
	.nargs = 4, .types = {TEXTOID, TEXTOID, INT4OID, INT4OID},
	.expect = SPI_OK_UPDATE_RETURNING
};

/*
 * What the project's row now says, for a check to decide from without
 * reading it again: copied out of the statement's result, whose memory a
 * rolled-back subtransaction frees.  Nothing writes those columns between
 * the recording and the check (pg_net's recording writes others).
 */
static void
keep_facts(ProjectSnapshot *snap)
{
	snap->facts = NULL;
	if (SPI_processed != 1)
		return;					/* (the check then finds the project gone) */
	/* (in the current context, freed with the project's SPI connection) */
	snap->facts = heap_copytuple(SPI_tuptable->vals[0]);
	snap->facts_desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	SPI_freetuptable(SPI_tuptable);
}

/* Records why a project could not be collected; its jobs keep their state. */
void
InventoryRecordFailure(ProjectSnapshot *snap)
{
	Datum		values[4];

	values[0] = CStringGetTextDatum(snap->project->name);
	values[1] = CStringGetTextDatum(SupamonCleanText(snap->error ? snap->error : "failed", 1000));
	values[2] = Int32GetDatum(snap->elapsed_ms);
	values[3] = Int32GetDatum(supamon_repeat_interval);
	SupamonRun(&update_failure, values, NULL);
	keep_facts(snap);
}

/* A stored time as Unix microseconds, COLLECT_NO_TIME when NULL or not finite. */
static int64
unix_micros(TimestampTz t)
{
	if (t == INVENTORY_NO_TIME || TIMESTAMP_NOT_FINITE(t))
		return COLLECT_NO_TIME;
	return t - SupamonFromUnixMicros(0);
}

/* A snapshot's time (Unix microseconds) as stored: INVENTORY_NO_TIME for none. */
static TimestampTz
stored_time(int64 usecs)
{
	return usecs == COLLECT_NO_TIME ? INVENTORY_NO_TIME : SupamonFromUnixMicros(usecs);
}

/* A text column, NULL for NULL. */
static char *
text_value(Datum *values, bool *nulls, int col)
{
	return nulls[col] ? NULL : TextDatumGetCString(values[col]);
}

/* A timestamptz column, INVENTORY_NO_TIME for NULL. */
static TimestampTz
time_value(Datum *values, bool *nulls, int col)
{
	return nulls[col] ? INVENTORY_NO_TIME : DatumGetTimestampTz(values[col]);
}

/* INVENTORY_RUNS_COLUMNS from a row's columns, the first at index first. */
static void
runs_values(Datum *values, bool *nulls, int first, InventoryRuns *r)
{
	r->has_last_run = !nulls[first];
	r->last_run_id = nulls[first] ? 0 : DatumGetInt64(values[first]);
	r->last_run_status = text_value(values, nulls, first + 1);
	r->last_run_started_at = time_value(values, nulls, first + 2);
	r->last_run_ended_at = time_value(values, nulls, first + 3);
	r->last_run_message = text_value(values, nulls, first + 4);
	r->consecutive_failures = nulls[first + 5] ? 0 : DatumGetInt32(values[first + 5]);
	r->last_start_at = time_value(values, nulls, first + 6);
	r->run_strip = text_value(values, nulls, first + 7);
	r->running_status = text_value(values, nulls, first + 8);
	r->has_running_run_id = !nulls[first + 9];
	r->running_run_id = nulls[first + 9] ? 0 : DatumGetInt64(values[first + 9]);
	r->running_since = time_value(values, nulls, first + 10);
}

/* Stored times as a timestamptz[] (see inventory.h). */
Datum
InventoryTimeArray(TimestampTz *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = values[i] == INVENTORY_NO_TIME;
		d[i] = nulls[i] ? (Datum) 0 : TimestampTzGetDatum(values[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* See inventory.h. */
void
InventoryRunsValues(const InventoryRuns *r, Datum *v, bool *nulls)
{
	nulls[0] = !r->has_last_run;
	v[0] = Int64GetDatum(r->last_run_id);
	nulls[1] = r->last_run_status == NULL;
	v[1] = nulls[1] ? (Datum) 0 : CStringGetTextDatum(r->last_run_status);
	nulls[2] = r->last_run_started_at == INVENTORY_NO_TIME;
	v[2] = TimestampTzGetDatum(r->last_run_started_at);
	nulls[3] = r->last_run_ended_at == INVENTORY_NO_TIME;
	v[3] = TimestampTzGetDatum(r->last_run_ended_at);
	nulls[4] = r->last_run_message == NULL;
	v[4] = nulls[4] ? (Datum) 0 : CStringGetTextDatum(r->last_run_message);
	nulls[5] = false;
	v[5] = Int32GetDatum(r->consecutive_failures);
	nulls[6] = r->last_start_at == INVENTORY_NO_TIME;
	v[6] = TimestampTzGetDatum(r->last_start_at);
	nulls[7] = r->run_strip == NULL;
	v[7] = nulls[7] ? (Datum) 0 : CStringGetTextDatum(r->run_strip);
	nulls[8] = r->running_status == NULL;
	v[8] = nulls[8] ? (Datum) 0 : CStringGetTextDatum(r->running_status);
	nulls[9] = !r->has_running_run_id;
	v[9] = Int64GetDatum(r->running_run_id);
	nulls[10] = r->running_since == INVENTORY_NO_TIME;
	v[10] = TimestampTzGetDatum(r->running_since);
}

/* Two texts, either NULL, alike. */
static bool
same_text(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Whether two jobs' run columns differ, column by column. */
bool
InventoryRunsDiffer(const InventoryRuns *a, const InventoryRuns *b)
{
	return a->has_last_run != b->has_last_run ||
		(a->has_last_run && a->last_run_id != b->last_run_id) ||
		!same_text(a->last_run_status, b->last_run_status) ||
		a->last_run_started_at != b->last_run_started_at ||
		a->last_run_ended_at != b->last_run_ended_at ||
		!same_text(a->last_run_message, b->last_run_message) ||
		a->consecutive_failures != b->consecutive_failures ||
		a->last_start_at != b->last_start_at ||
		!same_text(a->run_strip, b->run_strip) ||
		!same_text(a->running_status, b->running_status) ||
		a->has_running_run_id != b->has_running_run_id ||
		(a->has_running_run_id && a->running_run_id != b->running_run_id) ||
		a->running_since != b->running_since;
}

/* A run strip with marks appended, its newest STRIP_RUNS kept. */
char *
InventoryStripAppend(const char *strip, const char *marks)
{
	char	   *all = psprintf("%s%s", strip ? strip : "", marks);
	int			len = (int) strlen(all);
	int			chars = pg_mbstrlen_with_len(all, len);
	char	   *p = all;

	/* the newest STRIP_RUNS characters (each mark is one) */
	for (; chars > STRIP_RUNS; chars--)
		p += pg_mblen(p);
	return p;
}

/* A live job's row, as the recording reads it (InventoryReadJobs). */
typedef InventoryRow StoredJob;

/* A name's stored row. */
typedef struct StoredSlot
{
	const char *name;			/* the key */
	StoredJob  *job;
} StoredSlot;

static SupamonStatement read_jobs = {
	/* (what only a live job's recording compares, not read of the removed ones) */
	.sql = "SELECT job_name, removed_at IS NOT NULL, job_id,"
		" CASE WHEN removed_at IS NULL THEN username END, schedule,"
		" CASE WHEN removed_at IS NULL THEN command END, active,"
		" CASE WHEN removed_at IS NULL THEN database END, expected_interval_minutes::float8,"
		" calls_url IS NOT NULL OR http_outcome IS NOT NULL, created_at, "
		INVENTORY_RUNS_COLUMNS ","
		" failure_threshold, extract(epoch FROM grace)::int8,"
		" extract(epoch FROM max_runtime)::int8, criticality, status, status_reason,"
		" next_expected_at,"
		" $2 > 0 AND (last_alerted_at IS NULL OR last_alerted_at <= now() - pg_catalog.make_interval(secs => $2)),"
		" last_alerted_at IS NOT NULL AND last_alerted_at >= status_since,"
		" acked_at IS NOT NULL AND acked_at >= status_since,"
		" coalesce(http_outcome IN ('failed', 'timed_out', 'error'), false), http_error,"
		" strip_missed_upto"
		" FROM supamon.job_inventory WHERE project_name = $1 AND job_type = 'pg_cron'"
		" ORDER BY job_name",
	.nargs = 2, .types = {TEXTOID, INT4OID},
	.expect = SPI_OK_SELECT
};

/* read_jobs' columns, from 0 */
#define RJ_RUNS 11
#define RJ_AFTER_RUNS (RJ_RUNS + INVENTORY_RUNS_NCOLUMNS)
#define RJ_NCOLUMNS (RJ_AFTER_RUNS + 13)

/* See inventory.h. */
InventoryRow *
InventoryReadJobs(const char *project, int *n)
{
	Datum		args[2] = {CStringGetTextDatum(project), Int32GetDatum(supamon_repeat_interval)};
	uint64		rows = SupamonRun(&read_jobs, args, NULL);
	SPITupleTable *tab = SPI_tuptable;
	InventoryRow *jobs = palloc0(sizeof(InventoryRow) * Max(rows, 1));
	Datum		v[RJ_NCOLUMNS];
	bool		nulls[RJ_NCOLUMNS];

	if (tab->tupdesc->natts != RJ_NCOLUMNS)
		elog(ERROR, "supamon: the inventory read returned %d columns, not %d",
			 tab->tupdesc->natts, RJ_NCOLUMNS);
	for (uint64 i = 0; i < rows; i++)
	{
		InventoryRow *r = &jobs[i];
		int			c = RJ_AFTER_RUNS;

		/* once per row: column by column would walk each wide row from its start */
		heap_deform_tuple(tab->vals[i], tab->tupdesc, v, nulls);
		r->name = text_value(v, nulls, 0);
		r->removed = DatumGetBool(v[1]);
		r->has_job_id = !nulls[2];
		r->job_id = nulls[2] ? 0 : DatumGetInt64(v[2]);
		r->username = text_value(v, nulls, 3);
		r->schedule = text_value(v, nulls, 4);
		r->command = text_value(v, nulls, 5);
		r->active = DatumGetBool(v[6]);
		r->database = text_value(v, nulls, 7);
		r->has_gap = !nulls[8];
		r->gap = nulls[8] ? 0 : DatumGetFloat8(v[8]);
		r->calls = DatumGetBool(v[9]);
		r->created = DatumGetTimestampTz(v[10]);
		runs_values(v, nulls, RJ_RUNS, &r->runs);
		r->failure_threshold = DatumGetInt32(v[c]);
		c++;
		r->has_grace = !nulls[c];
		r->grace = nulls[c] ? 0 : DatumGetInt64(v[c]);
		c++;
		r->has_max_runtime = !nulls[c];
		r->max_runtime = nulls[c] ? 0 : DatumGetInt64(v[c]);
		c++;
		r->criticality = text_value(v, nulls, c++);
		r->status = text_value(v, nulls, c++);
		r->reason = text_value(v, nulls, c++);
		r->next_expected = time_value(v, nulls, c++);
		r->reminder_due = DatumGetBool(v[c++]);
		r->told = DatumGetBool(v[c++]);
		r->acked = DatumGetBool(v[c++]);
		r->http_failing = DatumGetBool(v[c++]);
		r->http_error = text_value(v, nulls, c++);
		r->missed_upto = time_value(v, nulls, c++);
		Assert(c == RJ_NCOLUMNS);
	}
	SPI_freetuptable(tab);
	*n = (int) rows;
	return jobs;
}

/*
 * The project's rows (all of them, in *all), and its live ones with a
 * table of them by name.
 */
static StoredJob *
read_stored_jobs(const char *project, InventoryRow **all, int *nall, int *n, HTAB **by_name)
{
	StoredJob  *live;
	int			m = 0;

	*all = InventoryReadJobs(project, nall);
	live = palloc(sizeof(StoredJob) * Max(*nall, 1));
	*by_name = name_table(*nall, sizeof(StoredSlot));
	for (int i = 0; i < *nall; i++)
	{
		StoredSlot *slot;

		if ((*all)[i].removed)
			continue;
		live[m] = (*all)[i];
		slot = hash_search(*by_name, &live[m].name, HASH_ENTER, NULL);
		slot->job = &live[m];
		m++;
	}
	*n = m;
	return live;
}

/*
 * The name and latest finished run each jobid's live row holds (runs older
 * than that are not new; a name derived from the job's own stays its).
 */
static HTAB *
held_names(StoredJob *stored, int nstored)
{
	HTAB	   *h = int64_table("supamon held names", nstored, sizeof(HeldName));

	for (int i = 0; i < nstored; i++)
	{
		StoredJob  *s = &stored[i];
		HeldName   *slot;
		int64		start;

		if (!s->has_job_id)
			continue;
		slot = hash_search(h, &s->job_id, HASH_ENTER, NULL);
		slot->name = s->name;
		slot->last_run_id = s->runs.has_last_run ? s->runs.last_run_id : 0;
		start = unix_micros(s->runs.last_run_started_at);
		if (start == COLLECT_NO_TIME)
			start = unix_micros(s->runs.last_run_ended_at);
		/* a last run without a time (failed to connect): none older is new */
		slot->last_run_start = start != COLLECT_NO_TIME ? start :
			slot->last_run_id != 0 ? PG_INT64_MAX : COLLECT_NO_TIME;
	}
	return h;
}

static SupamonStatement update_removed = {
	.sql = "UPDATE supamon.job_inventory i SET removed_at = now(), updated_at = now(),"
		/* the last check that saw it: the project's last before this one */
		" last_seen_at = coalesce((SELECT p.last_success_at FROM supamon.project p WHERE p.name = $1),"
		"   i.last_seen_at)"
		" FROM unnest($2) AS g(name)"
		" WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_name = g.name",
	.nargs = 2, .types = {TEXTOID, TEXTARRAYOID},
	.expect = SPI_OK_UPDATE
};

/*
 * Marks removed the live jobs of the project that the snapshot does not
 * have.  Where pg_cron's row-level security hides other roles' jobs from
 * supamon's role, only that role's jobs can be known to be gone.
 */
static int
mark_removed(ProjectSnapshot *snap, char **names, Datum project,
			 StoredJob *stored, int nstored)
{
	HTAB	   *present = name_table(snap->njobs, sizeof(NameSlot));
	Datum		values[2] = {project, (Datum) 0};
	char	  **gone;
	int			ngone = 0;

	for (int i = 0; i < snap->njobs; i++)
		(void) hash_search(present, &names[i], HASH_ENTER, NULL);
	gone = palloc(sizeof(char *) * Max(nstored, 1));
	for (int i = 0; i < nstored; i++)
	{
		const char *user = stored[i].username;

		CHECK_FOR_INTERRUPTS();
		if (hash_search(present, &stored[i].name, HASH_FIND, NULL) != NULL)
			continue;
		if (snap->rls_active && (user == NULL || snap->role == NULL || strcmp(user, snap->role) != 0))
			continue;
		gone[ngone++] = stored[i].name;
	}
	hash_destroy(present);
	if (ngone == 0)
		return 0;
	values[1] = SupamonTextArray(gone, NULL, ngone);
	return (int) SupamonRun(&update_removed, values, NULL);
}

/*
 * Whether what the project says of a job differs from its stored row (the
 * interval is stored rounded to hundredths of a minute).
 */
static bool
definition_changed(const StoredJob *s, const CronJobRow *j, bool has_gap, double gap)
{
	return !s->has_job_id || s->job_id != j->jobid ||
		!same_text(s->schedule, j->schedule) || !same_text(s->command, j->command) ||
		s->active != j->active || !same_text(s->username, j->username) ||
		!same_text(s->database, j->database) || s->has_gap != has_gap ||
		(has_gap && fabs(s->gap - gap) > 0.0051);
}

static SupamonStatement upsert_jobs = {
	.sql = "WITH up AS ("
		" INSERT INTO supamon.job_inventory AS i (project_name, job_type, job_name, job_id,"
		"   schedule, command, active, username, database, expected_interval_minutes, last_seen_at,"
		"   criticality)"
		" SELECT $1, 'pg_cron', s.job_name, s.job_id, s.schedule, s.command, s.active,"
		"   s.username, s.database, round(s.gap::numeric, 2), now(),"
		/* a job found now takes the project's default (user settings stay) */
		DEFAULT_CRITICALITY_SQL("s.job_name")
		" FROM unnest($2, $3, $4, $5, $6, $7, $8, $9)"
		"   AS s(job_id, job_name, schedule, command, active, username, database, gap)"
		" ON CONFLICT (project_name, job_type, job_name) DO UPDATE SET"
		/*
		 * Another jobid under a known name is another pg_cron job (the old
		 * one deleted, a new one scheduled): what the user set stays, what
		 * was observed of the old job does not.
		 */
		"   last_run_id = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_run_id END,"
		"   last_run_status = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_run_status END,"
		"   last_run_started_at = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_run_started_at END,"
		"   last_run_ended_at = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_run_ended_at END,"
		"   last_run_message = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_run_message END,"
		"   last_start_at = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.last_start_at END,"
		"   running_since = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.running_since END,"
		"   running_status = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.running_status END,"
		"   running_run_id = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.running_run_id END,"
		"   consecutive_failures = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.consecutive_failures ELSE 0 END,"
		"   created_at = CASE WHEN i.job_id = EXCLUDED.job_id THEN i.created_at ELSE now() END,"
		/* a job back or replaced calls what its command calls now, if anything */
		"   calls_url = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.calls_url END,"
		"   calls_function = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.calls_function END,"
		"   http_run_id = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.http_run_id END,"
		"   http_outcome = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.http_outcome END,"
		"   http_status = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.http_status END,"
		"   http_error = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.http_error END,"
		"   http_checked_at = CASE WHEN i.job_id = EXCLUDED.job_id AND i.removed_at IS NULL THEN i.http_checked_at END,"
		"   job_id = EXCLUDED.job_id, schedule = EXCLUDED.schedule, command = EXCLUDED.command,"
		"   active = EXCLUDED.active, username = EXCLUDED.username, database = EXCLUDED.database,"
		"   expected_interval_minutes = EXCLUDED.expected_interval_minutes,"
		"   last_seen_at = EXCLUDED.last_seen_at, removed_at = NULL,"
		"   updated_at = CASE WHEN (i.job_id, i.schedule, i.command, i.active, i.removed_at IS NULL)"
		"     IS DISTINCT FROM (EXCLUDED.job_id, EXCLUDED.schedule, EXCLUDED.command, EXCLUDED.active, true)"
		"     THEN now() ELSE i.updated_at END"
		" RETURNING (xmax = 0) AS inserted)"
		"SELECT count(*) FILTER (WHERE inserted)::int4 FROM up",
	.nargs = 9, .types = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID},
	.expect = SPI_OK_SELECT
};

#define INSERT_RUNS \
	"INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status," \
	"  error_message, last_run_at, run_id, run_ended_at)" \
	" SELECT $1, 'pg_cron', r.job_name, r.status, r.message, r.start_time, r.runid, r.end_time" \
	" FROM unnest($2) AS r(job_name text, runid int8, status text, message text," \
	"   start_time timestamptz, end_time timestamptz)"

/* INSERT_RUNS' rows: a run's job name, runid, status, message, start and end */
#define LOG_NCOLUMNS 6
static const Oid log_types[LOG_NCOLUMNS] = {TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
TIMESTAMPTZOID};
static TupleDesc log_row = NULL;

/*
 * A run is logged once (job_health_log_job_run_idx).  Runs read are new but
 * for two checks of a project at once: those are logged by insert_runs_again
 * (audit.c records such a project again when insert_runs meets one logged),
 * so that the others do not pay for ON CONFLICT's check of each row first.
 */
static SupamonStatement insert_runs = {
	.sql = INSERT_RUNS,
	.nargs = 2, .types = {TEXTOID, RECORDARRAYOID},
	.expect = SPI_OK_INSERT
};

static SupamonStatement insert_runs_again = {
	.sql = INSERT_RUNS
	/* only job_health_log_job_run_idx can conflict: the only index to ask first */
	" ON CONFLICT (project_name, job_type, job_name, run_id, coalesce(last_run_at, '-infinity'))"
	"   WHERE run_id IS NOT NULL DO NOTHING",
	.nargs = 2, .types = {TEXTOID, RECORDARRAYOID},
	.expect = SPI_OK_INSERT
};

/* The finished runs to log: run[k] of the snapshot's runs, its job's name names[job[k]]. */
typedef struct LogRows
{
	ProjectSnapshot *snap;
	char	  **names;
	int		   *run;
	int		   *job;
} LogRows;

/* Row k of INSERT_RUNS' parameter (SupamonRecordArray). */
static void
log_fill(void *arg, int k, Datum *row, bool *rn)
{
	LogRows    *log = arg;
	CronRunRow *r = &log->snap->runs[log->run[k]];

	row[0] = CStringGetTextDatum(log->names[log->job[k]]);
	row[1] = Int64GetDatum(r->runid);
	row[2] = CStringGetTextDatum(strcmp(r->status, "succeeded") == 0 ? "success" : "failed");
	rn[3] = strcmp(r->status, "failed") != 0 || r->message == NULL;
	row[3] = rn[3] ? (Datum) 0 : CStringGetTextDatum(r->message);
	rn[4] = r->start_time == COLLECT_NO_TIME;
	row[4] = rn[4] ? (Datum) 0 : TimestampTzGetDatum(SupamonFromUnixMicros(r->start_time));
	rn[5] = r->end_time == COLLECT_NO_TIME;
	row[5] = rn[5] ? (Datum) 0 : TimestampTzGetDatum(SupamonFromUnixMicros(r->end_time));
}

/*
 * The run columns a job's runs in this snapshot make of what was stored
 * (as the recording once did in SQL): its latest finished run, its
 * consecutive failures, its latest start (one beyond the project's clock
 * forgotten), its run strip, and the run in progress, which counts from
 * when supamon first saw it when it has not started yet.  The latest run
 * changes only for a job with runs; the runs in progress are those seen
 * now, for every job, whenever runs were read.
 */
static void
next_runs(const InventoryRuns *old, const JobRuns *j, const ProjectSnapshot *snap,
		  TimestampTz horizon, InventoryRuns *new)
{
	int64		latest = j->has_runs ? j->latest_start : COLLECT_NO_TIME;

	*new = *old;
	if (j->last_runid != 0 || j->failures != 0 || latest != COLLECT_NO_TIME)
	{
		TimestampTz kept = old->last_start_at != INVENTORY_NO_TIME &&
			old->last_start_at <= horizon ? old->last_start_at : INVENTORY_NO_TIME;
		TimestampTz latest_at = stored_time(latest);
		int64		failures = (j->reset || snap->bootstrapped) ? j->failures :
			(int64) old->consecutive_failures + j->failures;

		if (j->last_runid != 0)
		{
			new->has_last_run = true;
			new->last_run_id = j->last_runid;
			new->last_run_status = (char *) j->last_status;
			new->last_run_started_at = stored_time(j->last_start);
			new->last_run_ended_at = stored_time(j->last_end);
			new->last_run_message = (char *) j->last_message;
		}
		new->consecutive_failures = (int32) Min(failures, PG_INT32_MAX);
		if (snap->bootstrapped)
			new->last_start_at = latest_at != INVENTORY_NO_TIME ? latest_at : kept;
		else
			new->last_start_at = kept == INVENTORY_NO_TIME ? latest_at :
				latest_at == INVENTORY_NO_TIME ? kept : Max(kept, latest_at);
		if (j->nmarks > 0)
		{
			StringInfoData b;

			initStringInfo(&b);
			for (int k = 0; k < j->nmarks; k++)
				appendStringInfoString(&b, SupamonStripMark(j->marks[k]));
			new->run_strip = InventoryStripAppend(old->run_strip, b.data);
		}
	}
	new->running_status = j->running ? (char *) j->running_status : NULL;
	new->has_running_run_id = j->running;
	new->running_run_id = j->running ? j->running_runid : 0;
	if (!j->running)
		new->running_since = INVENTORY_NO_TIME;
	else if (j->running_since != COLLECT_NO_TIME)
		new->running_since = stored_time(j->running_since);
	else if (old->running_status != NULL && old->running_since != INVENTORY_NO_TIME &&
			 (!old->has_running_run_id || old->running_run_id == j->running_runid))
		new->running_since = old->running_since;
	else
		new->running_since = GetCurrentTransactionStartTimestamp();
}

static SupamonStatement write_runs = {
	.sql = "UPDATE supamon.job_inventory i SET" INVENTORY_RUNS_SET ", last_seen_at = now()"
		" FROM unnest($2) AS u(name text, " INVENTORY_RUNS_DEFINITION ")"
		" WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_name = u.name",
	.nargs = 2, .types = {TEXTOID, RECORDARRAYOID},
	.expect = SPI_OK_UPDATE
};

/* write_runs' rows: a job's name, then its run columns */
static const Oid write_runs_types[1 + INVENTORY_RUNS_NCOLUMNS] = {TEXTOID, INVENTORY_RUNS_RECORD_TYPES};
static TupleDesc write_runs_row = NULL;

/* The jobs whose run columns write_runs writes. */
typedef struct RunsRows
{
	char	  **names;
	InventoryRuns **runs;
} RunsRows;

/* Row k of write_runs' parameter (SupamonRecordArray). */
static void
runs_fill(void *arg, int k, Datum *row, bool *rn)
{
	RunsRows   *w = arg;

	row[0] = CStringGetTextDatum(w->names[k]);
	InventoryRunsValues(w->runs[k], &row[1], &rn[1]);
}

/* Writes the run columns that the recording left and no one wrote. */
void
InventoryWriteRuns(ProjectSnapshot *snap)
{
	InventoryRecorded *rec = snap->recorded;
	HASH_SEQ_STATUS it;
	InventoryJob *job;
	RunsRows	rows;
	int			n = 0;
	Datum		values[2];

	if (rec == NULL || rec->nchanged == 0)
		return;
	rows.names = palloc(sizeof(char *) * rec->nchanged);
	rows.runs = palloc(sizeof(InventoryRuns *) * rec->nchanged);
	hash_seq_init(&it, rec->jobs);
	while ((job = hash_seq_search(&it)) != NULL)
	{
		if (!job->changed || job->written)
			continue;
		rows.names[n] = job->name;
		rows.runs[n++] = &job->runs;
		job->written = true;
	}
	if (n == 0)
		return;
	values[0] = CStringGetTextDatum(snap->project->name);
	values[1] = SupamonRecordArray(SupamonRowType(&write_runs_row, 1 + INVENTORY_RUNS_NCOLUMNS,
												  write_runs_types),
								   n, runs_fill, &rows);
	SupamonRun(&write_runs, values, NULL);
}

static SupamonStatement update_project_seen = {
	.sql = "UPDATE supamon.project SET reachable = true, last_check_at = now(),"
		" last_success_at = now(), last_error = NULL, last_check_ms = $2,"
		/* from 1.5 on the setting always exists: NULL means hidden, so the last seen stays */
		" remote_now = $3, cron_timezone = coalesce($4, cron_timezone),"
		" pg_cron_version = $5, cron_log_run = $6, scheduler_running = $7,"
		" run_high_water = $8, open_run_ids = $9,"
		" history_bootstrapped_at = CASE WHEN $10 THEN now() ELSE history_bootstrapped_at END,"
		" pg_net_readable = $11"
		" WHERE name = $1"
		" RETURNING " PROJECT_FACTS_COLUMNS("$12"),
	.nargs = 12, .types = {TEXTOID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, BOOLOID,
	BOOLOID, INT8OID, INT8ARRAYOID, BOOLOID, BOOLOID, INT4OID},
	.expect = SPI_OK_UPDATE_RETURNING
};

/* Records a successful snapshot (see inventory.h for what it leaves). */
void
InventoryRecord(ProjectSnapshot *snap, InventoryCounts *counts)
{
	ProjectState *p = snap->project;
	int			n = snap->njobs;
	Datum		project = CStringGetTextDatum(p->name);
	int			nstored;
	HTAB	   *by_name;
	InventoryRow *all;
	int			nall;
	StoredJob  *stored = read_stored_jobs(p->name, &all, &nall, &nstored, &by_name);
	HTAB	   *held = held_names(stored, nstored);
	char	  **names = job_names(snap, held);
	HTAB	   *jobs = job_table(snap);
	int			m = 0;
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	char	  **upsert_names = palloc(sizeof(char *) * Max(n, 1));
	char	  **schedules = palloc(sizeof(char *) * Max(n, 1));
	char	  **commands = palloc(sizeof(char *) * Max(n, 1));
	char	  **users = palloc(sizeof(char *) * Max(n, 1));
	char	  **dbs = palloc(sizeof(char *) * Max(n, 1));
	bool	   *active = palloc(sizeof(bool) * Max(n, 1));
	double	   *gaps = palloc(sizeof(double) * Max(n, 1));
	bool	   *gap_nulls = palloc(sizeof(bool) * Max(n, 1));
	TimestampTz horizon = SupamonFromUnixMicros(snap->remote_now + (int64) 5 * 60 * 1000000);
	InventoryRecorded *rec = palloc0(sizeof(InventoryRecorded));

	memset(counts, 0, sizeof(*counts));
	counts->jobs = n;
	counts->runs_read = snap->nruns;
	for (int i = 0; i < nstored; i++)
		rec->any_calls |= stored[i].calls;

	/* 1. the inventory: jobs new, changed or back (the others are not written) */
	for (int i = 0; i < n; i++)
	{
		CronJobRow *j = &snap->jobs[i];
		StoredSlot *slot = hash_search(by_name, &names[i], HASH_FIND, NULL);
		double		gap = 0;
		bool		has_gap;

		CHECK_FOR_INTERRUPTS();
		has_gap = SupamonScheduleGapMinutes(j->schedule, snap->pgcron_version,
											snap->cron_timezone, &gap);
		if (slot != NULL && !definition_changed(slot->job, j, has_gap, gap))
			continue;
		ids[m] = j->jobid;
		upsert_names[m] = names[i];
		schedules[m] = j->schedule;
		commands[m] = j->command;
		users[m] = j->username;
		dbs[m] = j->database;
		active[m] = j->active;
		gaps[m] = gap;
		gap_nulls[m] = !has_gap;
		m++;
	}
	if (m > 0)
	{
		Datum		values[9] = {project, SupamonInt8Array(ids, NULL, m),
			SupamonTextArray(upsert_names, NULL, m), SupamonTextArray(schedules, NULL, m),
			SupamonTextArray(commands, NULL, m), SupamonBoolArray(active, m),
			SupamonTextArray(users, NULL, m), SupamonTextArray(dbs, NULL, m),
		SupamonFloat8Array(gaps, gap_nulls, m)};
		bool		isnull;

		SupamonRun(&upsert_jobs, values, NULL);
		counts->new_jobs = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
	}

	/*
	 * Many new rows at once (a first audit of a big project): the planner's
	 * statistics would still describe the table as it was, and a join
	 * planned for a handful of rows over thousands turns quadratic.
	 */
	if (counts->new_jobs >= ANALYZE_AFTER_NEW_JOBS)
		SupamonRunText("ANALYZE supamon.job_inventory", false, SPI_OK_UTILITY);

	/*
	 * 2. jobs gone from the project, before anything else: a renamed job's
	 * old row must not take its runs
	 */
	counts->removed_jobs = mark_removed(snap, names, project, stored, nstored);

	/*
	 * Rows just written (rare: a job found, changed, back or gone) are read
	 * again, so that the run columns below start from what the table now
	 * holds, and a check decides from it.
	 */
	if (m > 0 || counts->removed_jobs > 0)
	{
		hash_destroy(by_name);
		stored = read_stored_jobs(p->name, &all, &nall, &nstored, &by_name);
	}
	rec->rows = all;
	rec->nrows = nall;

	/* 3. the runs observed, each finished one logged once, under its job's name */
	if (snap->nruns > 0)
	{
		LogRows		log = {snap, names, palloc(sizeof(int) * snap->nruns), palloc(sizeof(int) * snap->nruns)};
		int			nlog = 0;

		for (int i = 0; i < snap->nruns; i++)
		{
			CronRunRow *r = &snap->runs[i];
			JobSlot    *slot;

			if (!RUN_IS_FINISHED(r->status))
				continue;
			slot = hash_search(jobs, &r->jobid, HASH_FIND, NULL);
			if (slot == NULL)
				continue;
			log.run[nlog] = i;
			log.job[nlog++] = slot->index;
		}
		if (nlog > 0)
		{
			Datum		values[2];

			values[0] = project;
			values[1] = SupamonRecordArray(SupamonRowType(&log_row, LOG_NCOLUMNS, log_types),
										   nlog, log_fill, &log);
			SupamonRun(snap->runs_logged_maybe ? &insert_runs_again : &insert_runs, values, NULL);
			counts->runs_logged = (int) SPI_processed;
		}
	}

	last_finished_runs(snap, jobs, held);
	hash_destroy(held);

	/*
	 * 4. each job's latest run and runs in progress, left in snap->recorded
	 * for a check to write with the statuses it decides (one new row
	 * version per job), unchanged without runs
	 */
	{
		JobRuns    *jr = (snap->nruns > 0 || p->nopen > 0) ? summarize_runs(snap, jobs) : NULL;

		rec->jobs = name_table(n, sizeof(InventoryJob));
		for (int i = 0; i < n; i++)
		{
			InventoryJob *job = hash_search(rec->jobs, &names[i], HASH_ENTER, NULL);
			StoredSlot *slot = hash_search(by_name, &names[i], HASH_FIND, NULL);

			job->changed = false;
			job->written = false;
			if (slot == NULL)
			{
				/* not in the table (it cannot be, after the upsert): nothing to write */
				memset(&job->runs, 0, sizeof(job->runs));
				continue;
			}
			if (jr == NULL)
			{
				job->runs = slot->job->runs;
				continue;
			}
			next_runs(&slot->job->runs, &jr[i], snap, horizon, &job->runs);
			job->changed = InventoryRunsDiffer(&slot->job->runs, &job->runs);
			if (job->changed)
				rec->nchanged++;
		}
		snap->recorded = rec;
	}

	/* 5. the project's bookkeeping */
	{
		int64	   *open = palloc(sizeof(int64) * Max(snap->nruns, 1));
		int			nopen = 0;
		int64		high = snap->has_max_runid ? snap->max_runid : 0;
		bool		has_high = snap->has_max_runid;
		Datum		values[12];
		char		nulls[13] = "            ";

		for (int i = 0; i < snap->nruns; i++)
		{
			if (!RUN_IS_FINISHED(snap->runs[i].status) &&
				!run_is_dead(&snap->runs[i], jobs))
				open[nopen++] = snap->runs[i].runid;
			if (!snap->runs_truncated && (!has_high || snap->runs[i].runid > high))
			{
				high = snap->runs[i].runid;
				has_high = true;
			}
		}
		values[0] = project;
		values[1] = Int32GetDatum(snap->elapsed_ms);
		values[2] = TimestampTzGetDatum(SupamonFromUnixMicros(snap->remote_now));
		values[3] = snap->cron_timezone ? CStringGetTextDatum(snap->cron_timezone) : (Datum) 0;
		nulls[3] = snap->cron_timezone ? ' ' : 'n';
		values[4] = snap->pgcron_version ? CStringGetTextDatum(snap->pgcron_version) : (Datum) 0;
		nulls[4] = snap->pgcron_version ? ' ' : 'n';
		values[5] = BoolGetDatum(snap->log_run);
		values[6] = BoolGetDatum(snap->scheduler == 1);
		nulls[6] = snap->scheduler < 0 ? 'n' : ' ';
		values[7] = Int64GetDatum(high);
		nulls[7] = has_high ? ' ' : 'n';
		values[8] = SupamonInt8Array(open, NULL, nopen);
		values[9] = BoolGetDatum(snap->bootstrapped);
		/* (pg_net's own recording writes the rest of what was read of it) */
		values[10] = BoolGetDatum(snap->pg_net_readable);
		values[11] = Int32GetDatum(supamon_repeat_interval);
		SupamonRun(&update_project_seen, values, nulls);
		keep_facts(snap);
	}
	hash_destroy(jobs);
}
