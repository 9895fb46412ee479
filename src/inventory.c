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
static HTAB *held_names(ProjectSnapshot *snap, Datum project, SPITupleTable **live, uint64 *nlive);
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

static uint32
name_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
name_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static HTAB *
name_table(int size)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(NameSlot);
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
	HTAB	   *wanted = name_table(n);
	HTAB	   *taken = name_table(n);
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
		"last_error = $2, last_check_ms = $3 WHERE name = $1",
	.nargs = 3, .types = {TEXTOID, TEXTOID, INT4OID},
	.expect = SPI_OK_UPDATE
};

void
InventoryRecordFailure(ProjectSnapshot *snap)
{
	Datum		values[3];

	values[0] = CStringGetTextDatum(snap->project->name);
	values[1] = CStringGetTextDatum(SupamonCleanText(snap->error ? snap->error : "failed", 1000));
	values[2] = Int32GetDatum(snap->elapsed_ms);
	SupamonRun(&update_failure, values, NULL);
}

static SupamonStatement update_removed = {
	.sql = "UPDATE supamon.job_inventory i SET removed_at = now(), updated_at = now()"
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
			 SPITupleTable *live, uint64 nlive)
{
	HTAB	   *present = name_table(snap->njobs);
	Datum		values[2] = {project, (Datum) 0};
	char	  **gone;
	int			ngone = 0;

	for (int i = 0; i < snap->njobs; i++)
		(void) hash_search(present, &names[i], HASH_ENTER, NULL);
	gone = palloc(sizeof(char *) * Max(nlive, 1));
	for (uint64 i = 0; i < nlive; i++)
	{
		char	   *name = SPI_getvalue(live->vals[i], live->tupdesc, 1);
		char	   *user = SPI_getvalue(live->vals[i], live->tupdesc, 3);

		CHECK_FOR_INTERRUPTS();
		if (hash_search(present, &name, HASH_FIND, NULL) != NULL)
			continue;
		if (snap->rls_active && (user == NULL || snap->role == NULL || strcmp(user, snap->role) != 0))
			continue;
		gone[ngone++] = name;
	}
	hash_destroy(present);
	if (ngone == 0)
		return 0;
	values[1] = SupamonTextArray(gone, NULL, ngone);
	SupamonRun(&update_removed, values, NULL);
	return (int) SPI_processed;
}

static SupamonStatement read_held = {
	.sql = "SELECT job_name, job_id, username, last_run_id,"
		"  (extract(epoch FROM coalesce(last_run_started_at, last_run_ended_at)) * 1000000)::int8"
		" FROM supamon.job_inventory"
		" WHERE project_name = $1 AND job_type = 'pg_cron' AND removed_at IS NULL",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * The project's live inventory rows (name, jobid, user), kept for
 * mark_removed, and the name and latest finished run each jobid holds.
 */
static HTAB *
held_names(ProjectSnapshot *snap, Datum project, SPITupleTable **live, uint64 *nlive)
{
	Datum		values[1] = {project};
	HTAB	   *h;

	SupamonRun(&read_held, values, NULL);
	*live = SPI_tuptable;
	*nlive = SPI_processed;
	/* the next SPI call must not free them */
	SPI_tuptable = NULL;
	h = int64_table("supamon held names", *nlive, sizeof(HeldName));
	for (uint64 i = 0; i < *nlive; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval((*live)->vals[i], (*live)->tupdesc, 2, &isnull);
		int64		jobid;
		HeldName   *slot;

		if (isnull)
			continue;
		jobid = DatumGetInt64(d);
		slot = hash_search(h, &jobid, HASH_ENTER, NULL);
		slot->name = SPI_getvalue((*live)->vals[i], (*live)->tupdesc, 1);
		d = SPI_getbinval((*live)->vals[i], (*live)->tupdesc, 4, &isnull);
		slot->last_run_id = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval((*live)->vals[i], (*live)->tupdesc, 5, &isnull);
		/* a last run without a time (failed to connect): none older is new */
		slot->last_run_start = !isnull ? DatumGetInt64(d) :
			slot->last_run_id != 0 ? PG_INT64_MAX : COLLECT_NO_TIME;
	}
	return h;
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

static SupamonStatement insert_runs = {
	.sql = "INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status,"
		"  error_message, last_run_at, run_id, run_ended_at)"
		" SELECT $1, 'pg_cron', r.job_name, r.status, r.message, r.start_time, r.runid, r.end_time"
		" FROM unnest($2, $3, $4, $5, $6, $7) AS r(job_name, runid, status, message, start_time, end_time)"
		" ON CONFLICT DO NOTHING",
	.nargs = 7, .types = {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID},
	.expect = SPI_OK_INSERT
};

static SupamonStatement update_last_runs = {
	.sql = "UPDATE supamon.job_inventory i SET"
		" last_run_id = CASE WHEN u.last_id IS NOT NULL THEN u.last_id ELSE i.last_run_id END,"
		" last_run_status = CASE WHEN u.last_id IS NOT NULL THEN u.last_status ELSE i.last_run_status END,"
		" last_run_started_at = CASE WHEN u.last_id IS NOT NULL THEN u.last_start ELSE i.last_run_started_at END,"
		" last_run_ended_at = CASE WHEN u.last_id IS NOT NULL THEN u.last_end ELSE i.last_run_ended_at END,"
		" last_run_message = CASE WHEN u.last_id IS NOT NULL THEN u.last_msg ELSE i.last_run_message END,"
		" consecutive_failures = CASE WHEN u.reset THEN u.fails ELSE i.consecutive_failures + u.fails END,"
		/* a start beyond the project's clock (recorded before supamon knew better) is forgotten */
		" last_start_at = CASE WHEN $13 THEN coalesce(u.latest, CASE WHEN i.last_start_at <= $14 THEN i.last_start_at END)"
		"   ELSE greatest(CASE WHEN i.last_start_at <= $14 THEN i.last_start_at END, u.latest) END,"
		" run_strip = CASE WHEN u.strip IS NOT NULL"
		"   THEN pg_catalog.right(coalesce(i.run_strip, '') || u.strip, " CppAsString2(STRIP_RUNS) ")"
		"   ELSE i.run_strip END"
		" FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $15)"
		"   AS u(name, last_id, last_status, last_start, last_end, last_msg, fails, reset, latest, strip)"
		" WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_name = u.name"
		"   AND (u.last_id IS NOT NULL OR u.fails <> 0 OR u.latest IS NOT NULL)",
	.nargs = 16, .types = {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, BOOLOID, TIMESTAMPTZOID,
	TEXTARRAYOID, INT8ARRAYOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_running = {
	.sql = "UPDATE supamon.job_inventory i SET running_status = u.status, running_run_id = u.rid,"
		" running_since = CASE WHEN u.status IS NOT NULL THEN coalesce(u.since,"
		"   CASE WHEN i.running_status IS NOT NULL AND coalesce(i.running_run_id = u.rid, true)"
		"     THEN i.running_since END, now()) END"
		" FROM unnest($2, $11, $12, $16) AS u(name, since, status, rid)"
		" WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_name = u.name"
		"   AND (i.running_since, i.running_status, i.running_run_id) IS DISTINCT FROM"
		"     (CASE WHEN u.status IS NOT NULL THEN coalesce(u.since,"
		"        CASE WHEN i.running_status IS NOT NULL AND coalesce(i.running_run_id = u.rid, true)"
		"          THEN i.running_since END, now()) END, u.status, u.rid)",
	.nargs = 16, .types = {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, BOOLOID, TIMESTAMPTZOID,
	TEXTARRAYOID, INT8ARRAYOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_project_seen = {
	.sql = "UPDATE supamon.project SET reachable = true, last_check_at = now(),"
		" last_success_at = now(), last_error = NULL, last_check_ms = $2,"
		/* from 1.5 on the setting always exists: NULL means hidden, so the last seen stays */
		" remote_now = $3, cron_timezone = coalesce($4, cron_timezone),"
		" pg_cron_version = $5, cron_log_run = $6, scheduler_running = $7,"
		" run_high_water = $8, open_run_ids = $9,"
		" history_bootstrapped_at = CASE WHEN $10 THEN now() ELSE history_bootstrapped_at END"
		" WHERE name = $1",
	.nargs = 10, .types = {TEXTOID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, BOOLOID,
	BOOLOID, INT8OID, INT8ARRAYOID, BOOLOID},
	.expect = SPI_OK_UPDATE
};

void
InventoryRecord(ProjectSnapshot *snap, InventoryCounts *counts)
{
	ProjectState *p = snap->project;
	int			n = snap->njobs;
	Datum		project = CStringGetTextDatum(p->name);
	SPITupleTable *live;
	uint64		nlive;
	HTAB	   *held = held_names(snap, project, &live, &nlive);
	char	  **names = job_names(snap, held);
	HTAB	   *jobs = job_table(snap);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	char	  **schedules = palloc(sizeof(char *) * Max(n, 1));
	char	  **commands = palloc(sizeof(char *) * Max(n, 1));
	char	  **users = palloc(sizeof(char *) * Max(n, 1));
	char	  **dbs = palloc(sizeof(char *) * Max(n, 1));
	bool	   *active = palloc(sizeof(bool) * Max(n, 1));
	double	   *gaps = palloc(sizeof(double) * Max(n, 1));
	bool	   *gap_nulls = palloc(sizeof(bool) * Max(n, 1));
	int64		horizon = snap->remote_now + (int64) 5 * 60 * 1000000;

	memset(counts, 0, sizeof(*counts));
	counts->jobs = n;
	counts->runs_read = snap->nruns;

	for (int i = 0; i < n; i++)
	{
		CronJobRow *j = &snap->jobs[i];

		CHECK_FOR_INTERRUPTS();
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
		Datum		values[9] = {project, SupamonInt8Array(ids, NULL, n), SupamonTextArray(names, NULL, n),
			SupamonTextArray(schedules, NULL, n), SupamonTextArray(commands, NULL, n), SupamonBoolArray(active, n),
		SupamonTextArray(users, NULL, n), SupamonTextArray(dbs, NULL, n), SupamonFloat8Array(gaps, gap_nulls, n)};
		bool		isnull;

		SupamonRun(&upsert_jobs, values, NULL);
		counts->new_jobs = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
	}

	/*
	 * Many new rows at once (a first audit of a big project): the planner's
	 * statistics would still describe the table as it was, and a join
	 * planned for a handful of rows over thousands turns quadratic.
	 */
	if (counts->new_jobs >= ANALYZE_AFTER_NEW_JOBS)
	{
		SupamonRunText("ANALYZE supamon.job_inventory", false, SPI_OK_UTILITY);
	}

	/*
	 * 2. jobs gone from the project, before anything else: a renamed job's
	 * old row must not take its runs
	 */
	counts->removed_jobs = mark_removed(snap, names, project, live, nlive);
	SPI_freetuptable(live);

	/* 3. the runs observed, each finished one logged once, under its job's name */
	if (snap->nruns > 0)
	{
		int			m = 0;
		char	  **jobname = palloc(sizeof(char *) * snap->nruns);
		int64	   *runids = palloc(sizeof(int64) * snap->nruns);
		char	  **status = palloc(sizeof(char *) * snap->nruns);
		char	  **message = palloc(sizeof(char *) * snap->nruns);
		int64	   *start = palloc(sizeof(int64) * snap->nruns);
		int64	   *end = palloc(sizeof(int64) * snap->nruns);
		Datum		values[7];

		for (int i = 0; i < snap->nruns; i++)
		{
			CronRunRow *r = &snap->runs[i];
			JobSlot    *slot;

			if (!RUN_IS_FINISHED(r->status))
				continue;
			slot = hash_search(jobs, &r->jobid, HASH_FIND, NULL);
			if (slot == NULL)
				continue;
			jobname[m] = names[slot->index];
			runids[m] = r->runid;
			status[m] = strcmp(r->status, "succeeded") == 0 ? "success" : "failed";
			message[m] = strcmp(r->status, "failed") == 0 ? r->message : NULL;
			start[m] = r->start_time;
			end[m] = r->end_time;
			m++;
		}
		values[0] = project;
		values[1] = SupamonTextArray(jobname, NULL, m);
		values[2] = SupamonInt8Array(runids, NULL, m);
		values[3] = SupamonTextArray(status, NULL, m);
		values[4] = SupamonTextArray(message, NULL, m);
		values[5] = SupamonTimeArray(start, m);
		values[6] = SupamonTimeArray(end, m);
		if (m > 0)
		{
			SupamonRun(&insert_runs, values, NULL);
			counts->runs_logged = (int) SPI_processed;
		}
	}

	last_finished_runs(snap, jobs, held);
	hash_destroy(held);

	/* 4. each job's latest run and runs in progress (unchanged without runs) */
	if (snap->nruns > 0 || p->nopen > 0)
	{
		JobRuns    *jr = summarize_runs(snap, jobs);
		int			nj = 0;
		char	  **jnames = palloc(sizeof(char *) * Max(n, 1));
		int64	   *lastids = palloc(sizeof(int64) * Max(n, 1));
		bool	   *lastnull = palloc(sizeof(bool) * Max(n, 1));
		char	  **lstatus = palloc(sizeof(char *) * Max(n, 1));
		int64	   *lstart = palloc(sizeof(int64) * Max(n, 1));
		int64	   *lend = palloc(sizeof(int64) * Max(n, 1));
		char	  **lmsg = palloc(sizeof(char *) * Max(n, 1));
		int64	   *fails = palloc(sizeof(int64) * Max(n, 1));
		bool	   *reset = palloc(sizeof(bool) * Max(n, 1));
		int64	   *latest = palloc(sizeof(int64) * Max(n, 1));
		int64	   *rsince = palloc(sizeof(int64) * Max(n, 1));
		char	  **rstatus = palloc(sizeof(char *) * Max(n, 1));
		Datum		values[16];
		int64	   *rids = palloc(sizeof(int64) * Max(n, 1));
		bool	   *ridnull = palloc(sizeof(bool) * Max(n, 1));
		char	  **strips = palloc(sizeof(char *) * Max(n, 1));

		/*
		 * Runs in progress are exactly those seen now, for every job; the
		 * latest run changes only for jobs with runs.
		 */
		for (int i = 0; i < n; i++)
		{
			JobRuns    *j = &jr[i];

			jnames[i] = names[i];
			lastids[i] = j->last_runid;
			lastnull[i] = j->last_runid == 0;
			lstatus[i] = (char *) j->last_status;
			lstart[i] = j->has_runs ? j->last_start : COLLECT_NO_TIME;
			lend[i] = j->has_runs ? j->last_end : COLLECT_NO_TIME;
			lmsg[i] = (char *) j->last_message;
			fails[i] = j->failures;
			reset[i] = j->reset || snap->bootstrapped;
			latest[i] = j->has_runs ? j->latest_start : COLLECT_NO_TIME;
			rsince[i] = j->running ? j->running_since : COLLECT_NO_TIME;
			rstatus[i] = j->running ? (char *) j->running_status : NULL;
			rids[i] = j->running ? j->running_runid : 0;
			ridnull[i] = !j->running;
			strips[i] = NULL;
			if (j->nmarks > 0)
			{
				StringInfoData b;

				initStringInfo(&b);
				for (int k = 0; k < j->nmarks; k++)
					appendStringInfoString(&b, SupamonStripMark(j->marks[k]));
				strips[i] = b.data;
			}
			if (j->has_runs)
				nj++;
		}
		values[0] = project;
		values[1] = SupamonTextArray(jnames, NULL, n);
		values[2] = SupamonInt8Array(lastids, lastnull, n);
		values[3] = SupamonTextArray(lstatus, NULL, n);
		values[4] = SupamonTimeArray(lstart, n);
		values[5] = SupamonTimeArray(lend, n);
		values[6] = SupamonTextArray(lmsg, NULL, n);
		values[7] = SupamonInt8Array(fails, NULL, n);
		values[8] = SupamonBoolArray(reset, n);
		values[9] = SupamonTimeArray(latest, n);
		values[10] = SupamonTimeArray(rsince, n);
		values[11] = SupamonTextArray(rstatus, NULL, n);
		values[12] = BoolGetDatum(snap->bootstrapped);
		values[13] = TimestampTzGetDatum(SupamonFromUnixMicros(horizon));
		values[14] = SupamonTextArray(strips, NULL, n);
		values[15] = SupamonInt8Array(rids, ridnull, n);
		if (nj > 0)
			SupamonRun(&update_last_runs, values, NULL);

		/*
		 * A run that has not started yet (starting, connecting) has no
		 * start_time: it counts from when supamon first saw that run (its
		 * runid), not from an earlier run's start.
		 */
		SupamonRun(&update_running, values, NULL);
	}

	/* 5. the project's bookkeeping */
	{
		int64	   *open = palloc(sizeof(int64) * Max(snap->nruns, 1));
		int			nopen = 0;
		int64		high = snap->has_max_runid ? snap->max_runid : 0;
		bool		has_high = snap->has_max_runid;
		Datum		values[10];
		char		nulls[11] = "          ";

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
		SupamonRun(&update_project_seen, values, nulls);
	}
	hash_destroy(jobs);
}
