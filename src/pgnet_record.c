/*
 * pgnet_record.c
 *		The pg_cron jobs that call HTTP endpoints through pg_net: which
 *		endpoint each calls, and what answered, recorded where a response can
 *		be told to be a run's (pgnet.c decides), with the project's pg_net
 *		failures counted either way.
 *
 * pg_cron says "succeeded" as soon as net.http_post() has queued the
 * request; what the endpoint answered lands in the project's
 * net._http_response later, with nothing naming the caller.  So runs of
 * calling jobs wait in supamon.pg_net_run until their window has closed,
 * then are matched by time with the responses each collection reads
 * (incrementally, by created).  A job's http_* columns hold the outcome of
 * its latest run told apart: ok, failed (4xx/5xx), timed_out or error
 * (pg_net could not send it); a run that cannot be told apart changes
 * nothing (it says nothing either way).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "pgnet.h"
#include "supamon.h"

/* What project_status counts: the responses of the 5 minutes before a check. */
#define RECENT_USECS ((int64) 5 * 60 * 1000000)

/* How long a decided run is kept to count in its neighbours' windows. */
#define KEEP_DECIDED_USECS ((int64) 15 * 60 * 1000000)

typedef struct Caller
{
	int64		jobid;			/* the key */
	PnCall		call;
} Caller;

static Datum
time_datum(int64 usecs)
{
	return TimestampTzGetDatum(SupamonFromUnixMicros(usecs));
}

/*
 * After a statement that may have written the project's pg_cron rows: the
 * recording's read of them no longer stands for a check to decide from.
 */
static void
jobs_written(ProjectSnapshot *snap)
{
	if (SPI_processed > 0 && snap->recorded)
		snap->recorded->rows = NULL;
}

static SupamonStatement update_callers = {
	.sql = "UPDATE supamon.job_inventory j SET calls_url = u.url, calls_function = u.slug"
		" FROM unnest($2, $3, $4) AS u(id, url, slug)"
		" WHERE j.project_name = $1 AND j.job_type = 'pg_cron' AND j.job_id = u.id"
		"   AND j.removed_at IS NULL"
		"   AND (j.calls_url, j.calls_function) IS DISTINCT FROM (u.url, u.slug)",
	.nargs = 4, .types = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_not_callers = {
	.sql = "UPDATE supamon.job_inventory SET calls_url = NULL, calls_function = NULL,"
		"  http_run_id = NULL, http_outcome = NULL, http_status = NULL, http_error = NULL,"
		"  http_checked_at = NULL"
		" WHERE project_name = $1 AND job_type = 'pg_cron'"
		"   AND (calls_url IS NOT NULL OR http_outcome IS NOT NULL)"
		"   AND (job_id IS NULL OR job_id <> ALL ($2) OR removed_at IS NOT NULL)",
	.nargs = 2, .types = {TEXTOID, INT8ARRAYOID},
	.expect = SPI_OK_UPDATE
};

/* Which jobs call pg_net, and what: recorded on their inventory rows. */
static HTAB *
record_callers(ProjectSnapshot *snap, Datum project)
{
	HASHCTL		ctl;
	HTAB	   *callers;
	int			n = 0;
	int64	   *ids = palloc(sizeof(int64) * Max(snap->njobs, 1));
	char	  **urls = palloc(sizeof(char *) * Max(snap->njobs, 1));
	char	  **slugs = palloc(sizeof(char *) * Max(snap->njobs, 1));
	Datum		values[4];

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(Caller);
	ctl.hcxt = CurrentMemoryContext;
	callers = hash_create("supamon pg_net callers", Max(snap->njobs, 16), &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < snap->njobs; i++)
	{
		CronJobRow *j = &snap->jobs[i];
		PnCall		call;
		Caller	   *c;
		bool		found;

		if (!pn_parse_command(j->command, &call))
			continue;
		/* pg_net's worker answers in the database that queued the request */
		if (j->database && snap->database && strcmp(j->database, snap->database) != 0)
			continue;
		c = hash_search(callers, &j->jobid, HASH_ENTER, &found);
		c->call = call;
		ids[n] = j->jobid;
		urls[n] = call.url[0] ? SupamonRedacted(call.url, 300) :
			pstrdup("(a URL computed when it runs)");
		slugs[n] = call.slug[0] ? SupamonCleanText(call.slug, 128) : NULL;
		n++;
	}
	values[0] = project;
	values[1] = SupamonInt8Array(ids, NULL, n);
	values[2] = SupamonTextArray(urls, NULL, n);
	values[3] = SupamonTextArray(slugs, NULL, n);
	if (n > 0)
	{
		SupamonRun(&update_callers, values, NULL);
		jobs_written(snap);
	}
	/*
	 * A job that no longer calls: nothing of its calls is its any more.  (No
	 * live job with calls before, none now: nothing to clear, since a job's
	 * calls were cleared in the check that found it gone.)
	 */
	if (n > 0 || snap->recorded == NULL || snap->recorded->any_calls)
	{
		SupamonRun(&update_not_callers, values, NULL);
		jobs_written(snap);
	}
	return callers;
}

static SupamonStatement insert_net_runs = {
	.sql = "INSERT INTO supamon.pg_net_run (project_name, runid, job_id, started_at, window_until, calls)"
		" SELECT $1, u.runid, u.jobid, u.from_at, u.until_at, u.calls::int4"
		" FROM unnest($2, $3, $4, $5, $6) AS u(runid, jobid, from_at, until_at, calls)"
		" ON CONFLICT (project_name, runid) DO NOTHING",
	.nargs = 6, .types = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, INT8ARRAYOID},
	.expect = SPI_OK_INSERT
};

/* New finished runs of calling jobs wait for their response. */
static void
queue_runs(ProjectSnapshot *snap, Datum project, HTAB *callers)
{
	int			n = 0;
	int64	   *runids = palloc(sizeof(int64) * Max(snap->nruns, 1));
	int64	   *jobids = palloc(sizeof(int64) * Max(snap->nruns, 1));
	int64	   *froms = palloc(sizeof(int64) * Max(snap->nruns, 1));
	int64	   *untils = palloc(sizeof(int64) * Max(snap->nruns, 1));
	int64	   *calls = palloc(sizeof(int64) * Max(snap->nruns, 1));
	Datum		values[6];

	for (int i = 0; i < snap->nruns; i++)
	{
		CronRunRow *r = &snap->runs[i];
		Caller	   *c;

		/* a failed run's request was rolled back with it: nothing to wait for */
		if (strcmp(r->status, "succeeded") != 0 || r->start_time == COLLECT_NO_TIME)
			continue;
		c = hash_search(callers, &r->jobid, HASH_FIND, NULL);
		if (c == NULL)
			continue;
		runids[n] = r->runid;
		jobids[n] = r->jobid;
		calls[n] = Min(c->call.ncalls, 1000);
		pn_window(&c->call, r->start_time,
				  r->end_time == COLLECT_NO_TIME ? r->start_time : r->end_time,
				  &froms[n], &untils[n]);
		n++;
	}
	if (n == 0)
		return;
	values[0] = project;
	values[1] = SupamonInt8Array(runids, NULL, n);
	values[2] = SupamonInt8Array(jobids, NULL, n);
	values[3] = SupamonTimeArray(froms, n);
	values[4] = SupamonTimeArray(untils, n);
	values[5] = SupamonInt8Array(calls, NULL, n);
	SupamonRun(&insert_net_runs, values, NULL);
}

/* What a run told apart shows on its job: the outcome and, for a failure, why. */
static void
describe(const PnRun *run, const NetResponse *resp, const char **outcome, int *status,
		 char **error)
{
	*error = NULL;
	*status = resp->status;
	if (run->verdict == PN_OK)
	{
		*outcome = "ok";
		return;
	}
	if (resp->timed_out)
	{
		*outcome = "timed_out";
		*error = pstrdup("its pg_net request timed out (pg_cron says it succeeded)");
	}
	else if (resp->error)
	{
		*outcome = "error";
		*error = psprintf("pg_net could not send its request (pg_cron says it succeeded): %s",
						  resp->error);
	}
	else
	{
		*outcome = "failed";
		*error = psprintf("its pg_net request answered HTTP %d (pg_cron says it succeeded)%s%s",
						  resp->status, resp->content && resp->content[0] ? ": " : "",
						  resp->content ? resp->content : "");
	}
	if (run->cluster_runs > 1)
		*error = psprintf("%s; every one of the %d pg_net requests made at that time failed",
						  *error, run->cluster_runs);
}

/* The verdict's name in supamon.pg_net_run. */
static const char *
verdict_name(PnVerdict v)
{
	return v == PN_OK ? "ok" : v == PN_FAILED ? "failed" : "unknown";
}

static SupamonStatement read_net_runs = {
	.sql = "SELECT runid, job_id, (extract(epoch FROM started_at) * 1000000)::int8,"
		" (extract(epoch FROM window_until) * 1000000)::int8, verdict, calls"
		" FROM supamon.pg_net_run WHERE project_name = $1",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

static SupamonStatement update_verdicts = {
	.sql = "UPDATE supamon.pg_net_run r SET verdict = u.verdict"
		" FROM unnest($2, $3) AS u(runid, verdict)"
		" WHERE r.project_name = $1 AND r.runid = u.runid",
	.nargs = 3, .types = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_outcomes = {
	.sql = "UPDATE supamon.job_inventory j SET http_run_id = u.runid,"
		"  http_outcome = u.outcome, http_status = u.status::int4,"
		"  http_error = u.error, http_checked_at = now()"
		" FROM unnest($2, $3, $4, $5, $6) AS u(id, runid, outcome, status, error)"
		" WHERE j.project_name = $1 AND j.job_type = 'pg_cron' AND j.job_id = u.id"
		"   AND j.removed_at IS NULL AND coalesce(j.http_run_id, -1) < u.runid",
	.nargs = 6, .types = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
	TEXTARRAYOID},
	.expect = SPI_OK_UPDATE
};

/*
 * Decides the runs whose window has closed and records their jobs'
 * outcomes; returns which responses are told apart as some run's (any run
 * kept, decided now or before).
 */
static bool *
decide_runs(ProjectSnapshot *snap, Datum project)
{
	Datum		values[6];
	uint64		nruns;
	PnRun	   *runs;
	int64	   *job_of;
	PnResponse *resp = palloc(sizeof(PnResponse) * Max(snap->nresponses, 1));
	bool	   *told = palloc0(sizeof(bool) * Max(snap->nresponses, 1));
	int			ndecided = 0,
				njobs = 0;
	int64	   *decided;
	char	  **verdicts;
	int64	   *ids,
			   *job_runs,
			   *job_status;
	bool	   *no_status;
	char	  **job_outcomes,
			  **job_errors;

	values[0] = project;
	SupamonRun(&read_net_runs, values, NULL);
	nruns = SPI_processed;
	runs = palloc0(sizeof(PnRun) * Max(nruns, 1));
	job_of = palloc(sizeof(int64) * Max(nruns, 1));
	for (uint64 i = 0; i < nruns; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *verdict = SPI_getvalue(tup, desc, 5);

		runs[i].runid = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		runs[i].tag = (int) i;
		job_of[i] = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		runs[i].from = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		runs[i].until = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		runs[i].decided = verdict != NULL;
		runs[i].expected = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		runs[i].verdict = verdict == NULL ? PN_PENDING :
			strcmp(verdict, "ok") == 0 ? PN_OK :
			strcmp(verdict, "failed") == 0 ? PN_FAILED : PN_UNKNOWN;
		runs[i].response = -1;
	}

	for (int i = 0; i < snap->nresponses; i++)
	{
		resp[i].created = snap->responses[i].created;
		resp[i].status = snap->responses[i].status;
		resp[i].timed_out = snap->responses[i].timed_out;
		resp[i].error = snap->responses[i].error != NULL;
	}
	/* with responses cut off, a window past the cut would look empty */
	if (!snap->responses_truncated)
		pn_attribute(runs, (int) nruns, resp, snap->nresponses, snap->remote_now);

	decided = palloc(sizeof(int64) * Max(nruns, 1));
	verdicts = palloc(sizeof(char *) * Max(nruns, 1));
	ids = palloc(sizeof(int64) * Max(nruns, 1));
	job_runs = palloc(sizeof(int64) * Max(nruns, 1));
	job_status = palloc(sizeof(int64) * Max(nruns, 1));
	no_status = palloc(sizeof(bool) * Max(nruns, 1));
	job_outcomes = palloc(sizeof(char *) * Max(nruns, 1));
	job_errors = palloc(sizeof(char *) * Max(nruns, 1));
	for (uint64 i = 0; i < nruns; i++)
	{
		PnRun	   *r = &runs[i];
		int64		jobid = job_of[r->tag];
		const char *outcome;
		int			status;
		char	   *error;
		int			k;

		/* what a run told apart (now or before) answered is no one else's */
		if (r->verdict == PN_OK || r->verdict == PN_FAILED)
			for (int x = 0; x < snap->nresponses; x++)
				if (resp[x].created >= r->from && resp[x].created <= r->until)
					told[x] = true;
		if (r->decided || r->verdict == PN_PENDING)
			continue;
		decided[ndecided] = r->runid;
		verdicts[ndecided++] = (char *) verdict_name(r->verdict);
		/* a run that cannot be told apart says nothing: the job keeps what was known */
		if (r->verdict == PN_UNKNOWN)
			continue;
		describe(r, r->response >= 0 ? &snap->responses[r->response] : NULL,
				 &outcome, &status, &error);
		/* per job, only its latest decided run's outcome is kept */
		for (k = 0; k < njobs; k++)
			if (ids[k] == jobid)
				break;
		if (k < njobs && job_runs[k] > r->runid)
			continue;
		if (k == njobs)
			njobs++;
		ids[k] = jobid;
		job_runs[k] = r->runid;
		job_outcomes[k] = (char *) outcome;
		job_status[k] = status;
		no_status[k] = status == 0;
		job_errors[k] = error ? SupamonRedacted(error, 600) : NULL;
	}
	if (ndecided == 0)
		return told;
	{
		Datum		vvalues[3] = {project, SupamonInt8Array(decided, NULL, ndecided),
		SupamonTextArray(verdicts, NULL, ndecided)};

		SupamonRun(&update_verdicts, vvalues, NULL);
	}
	values[1] = SupamonInt8Array(ids, NULL, njobs);
	values[2] = SupamonInt8Array(job_runs, NULL, njobs);
	values[3] = SupamonTextArray(job_outcomes, NULL, njobs);
	values[4] = SupamonInt8Array(job_status, no_status, njobs);
	values[5] = SupamonTextArray(job_errors, NULL, njobs);
	SupamonRun(&update_outcomes, values, NULL);
	jobs_written(snap);
	return told;
}

static SupamonStatement forget_net_runs = {
	.sql = "WITH forgotten AS (DELETE FROM supamon.pg_net_run WHERE project_name = $1)"
		" UPDATE supamon.job_inventory SET http_run_id = NULL"
		" WHERE project_name = $1 AND http_run_id IS NOT NULL",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_net_state = {
	.sql = "WITH purged AS (DELETE FROM supamon.pg_net_run"
		"   WHERE project_name = $1 AND window_until < $7)"
		" UPDATE supamon.project SET pg_net_readable = $2, pg_net_read_until = $3,"
		"  pg_net_responses = $4, pg_net_failures = $5, pg_net_unattributed_failures = $6"
		" WHERE name = $1",
	.nargs = 7, .types = {TEXTOID, BOOLOID, TIMESTAMPTZOID, INT4OID, INT4OID, INT4OID,
	TIMESTAMPTZOID},
	.expect = SPI_OK_UPDATE
};

void
PgNetRecord(ProjectSnapshot *snap)
{
	Datum		project = CStringGetTextDatum(snap->project->name);
	HTAB	   *callers = record_callers(snap, project);
	int			fresh = 0,
				failed = 0,
				unattributed = 0;
	bool	   *told;
	Datum		values[7];
	char		nulls[8] = "       ";

	/*
	 * pg_cron's runids went backwards (reinstalled, restored): what was
	 * matched against the old numbers is no measure for the new ones.
	 */
	if (snap->bootstrapped && snap->project->has_high_water)
	{
		Datum		v[1] = {project};

		SupamonRun(&forget_net_runs, v, NULL);
		jobs_written(snap);
	}
	if (snap->pg_net_readable)
		queue_runs(snap, project, callers);
	if (!snap->pg_net_read)
		return;					/* nothing read: what waits keeps waiting */
	told = decide_runs(snap, project);

	/* the responses of the last 5 minutes, whoever made them */
	for (int i = 0; i < snap->nresponses; i++)
	{
		NetResponse *r = &snap->responses[i];
		PnResponse	pr = {r->created, r->status, r->timed_out, r->error != NULL};

		if (r->created < snap->remote_now - RECENT_USECS)
			continue;
		fresh++;
		if (pn_response_failed(&pr))
		{
			failed++;
			if (!told[i])
				unattributed++;
		}
	}
	values[0] = project;
	values[1] = BoolGetDatum(snap->pg_net_readable);
	values[2] = time_datum(snap->remote_now);
	values[3] = Int32GetDatum(fresh);
	values[4] = Int32GetDatum(failed);
	values[5] = Int32GetDatum(unattributed);
	values[6] = time_datum(snap->remote_now - KEEP_DECIDED_USECS);
	SupamonRun(&update_net_state, values, nulls);
}
