/*
 * collect.h
 *		What one project's pg_cron looks like at one moment: its facts, its
 *		jobs and the runs newer than what supamon has seen.
 */
#ifndef SUPAMON_COLLECT_H
#define SUPAMON_COLLECT_H

#include "datatype/timestamp.h"
#include "edge.h"
#include "remote.h"

/* pg_cron statuses of a run */
#define RUN_IS_FINISHED(status) \
	(strcmp((status), "succeeded") == 0 || strcmp((status), "failed") == 0)

/* pg_cron statuses of a run that has not finished */
#define RUN_IS_IN_PROGRESS(status) \
	(strcmp((status), "starting") == 0 || strcmp((status), "running") == 0 || \
	 strcmp((status), "sending") == 0 || strcmp((status), "connecting") == 0)

/* How many of a project's jobs and runs one collection reads at most. */
#define COLLECT_MAX_JOBS 100000
#define COLLECT_MAX_RUNS 200000

/* A time as microseconds since 1970-01-01 UTC; COLLECT_NO_TIME if unknown. */
#define COLLECT_NO_TIME PG_INT64_MIN

/* Such a time as a timestamptz (collect.c checked its range). */
static inline TimestampTz
SupamonFromUnixMicros(int64 usecs)
{
	return usecs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

typedef struct CronJobRow
{
	int64		jobid;
	char	   *jobname;		/* NULL for unnamed jobs; cleaned and capped */
	char	   *schedule;
	char	   *command;
	char	   *username;
	char	   *database;
	bool		active;
} CronJobRow;

/* A pg_net response (net._http_response). */
typedef struct NetResponse
{
	int64		id;
	int			status;			/* 0: NULL */
	bool		timed_out;
	char	   *error;			/* pg_net's error_msg, cleaned; NULL when none */
	char	   *content;		/* the start of the body, cleaned and redacted */
	int64		created;
} NetResponse;

typedef struct CronRunRow
{
	int64		jobid;
	int64		runid;
	char	   *status;
	char	   *message;		/* cleaned and capped; NULL when none */
	int64		start_time;		/* or COLLECT_NO_TIME */
	int64		end_time;
} CronRunRow;

/* What supamon knew about a project before collecting it. */
typedef struct ProjectState
{
	char	   *name;
	char	   *conninfo;		/* NULL: this database */
	bool		has_high_water;
	int64		high_water;		/* the highest runid seen */
	int64	   *open_runs;		/* runids seen unfinished */
	int			nopen;
	bool		pg_net_readable;	/* net._http_response was readable */
	int64		pg_net_read_until;	/* responses read up to (project's clock) */
	int64		pg_net_since;	/* responses to read from, or COLLECT_NO_TIME */
	char	   *supabase_ref;	/* NULL: no Edge Functions to ask about */
	TimestampTz api_blocked_until;	/* the Management API asked to wait */
} ProjectState;

typedef struct ProjectSnapshot
{
	ProjectState *project;
	bool		ok;
	char	   *error;			/* why not */
	int			elapsed_ms;

	/* facts */
	int64		remote_now;		/* the project's clock */
	char	   *cron_timezone;	/* NULL before pg_cron 1.5 */
	char	   *pgcron_version; /* NULL when not visible */
	bool		log_run;
	int			scheduler;		/* 1 running, 0 not running, -1 unknown */
	char	   *role;			/* the role supamon reads the project as */
	char	   *database;		/* the database it reads */
	bool		rls_active;		/* pg_cron's row-level security limits that role */

	/* jobs and runs */
	int			njobs;
	CronJobRow *jobs;
	int			nruns;
	CronRunRow *runs;
	bool		bootstrapped;	/* history read from scratch */
	bool		has_max_runid;
	int64		max_runid;		/* the highest runid to remember as read */
	bool		runs_truncated; /* more runs than COLLECT_MAX_RUNS: the rest next time */
	bool		runs_logged_maybe;	/* some may be logged already (another check
									 * of the project at once): log what is not */
	int			ignored_runs;	/* runs without a job, runid or known status */
	int			future_times;	/* run times beyond the project's clock, ignored */

	/* pg_net: whether its responses are readable, and those read */
	bool		pg_net_readable;
	bool		pg_net_read;	/* the responses were asked for */
	int			nresponses;
	NetResponse *responses;		/* by created */
	bool		responses_truncated;	/* more than collect.c reads at once */
	char	   *pg_net_error;	/* why they could not be recorded */

	/* what the Management API said (edge.asked false: not asked) */
	EdgeSnapshot edge;

	/* what recording it left to write (inventory.c), NULL before */
	struct InventoryRecorded *recorded;

	/*
	 * The project's row as recording it left it (PROJECT_FACTS_COLUMNS,
	 * inventory.h), for the check to decide from; NULL: to be read.
	 */
	struct HeapTupleData *facts;
	struct TupleDescData *facts_desc;

	/* where its jobs, runs, responses and facts live (CollectRelease frees it) */
	MemoryContext rows_cxt;
} ProjectSnapshot;

/*
 * What the query that collects a remote project is made of: a few numbers,
 * held for every project of a check (and passed to the collector) while
 * the text itself is made only when the request is sent.
 */
typedef struct CollectParams
{
	bool		has_high_water;
	int64		high_water;
	const int64 *open_runs;
	int			nopen;
	bool		pg_net_readable;
	int64		pg_net_since;
	int			query_timeout_ms;
} CollectParams;

/* A project's parameters, with the session's supamon.query_timeout. */
extern void CollectParamsOf(const ProjectState *p, CollectParams *cp);

/*
 * The query that collects a remote project: its session set-up and the
 * statements, one round trip (a RemoteRequest's make_sql, given a
 * CollectParams).
 */
extern char *CollectSqlOf(const void *params);

/* Reads the results of CollectSqlOf's text (remote) into a snapshot. */
extern void CollectFromRemote(RemoteRequest *r, ProjectSnapshot *snap);

/* Collects this very database through SPI, in a subtransaction. */
extern void CollectLocal(ProjectSnapshot *snap);

/*
 * Frees a snapshot's jobs, runs, responses and facts once it is recorded
 * (its project, ok, error and timing stay).
 */
extern void CollectRelease(ProjectSnapshot *snap);

#endif							/* SUPAMON_COLLECT_H */
