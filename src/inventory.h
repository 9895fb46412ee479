/*
 * inventory.h
 *		Recording what was collected from a project.
 */
#ifndef SUPAMON_INVENTORY_H
#define SUPAMON_INVENTORY_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/hsearch.h"

#include "collect.h"

/*
 * SQL for the criticality a job or function found now takes: the longest
 * matching pattern of its project's rules ($1 the project), the project's
 * own default last, else 'important'.  name: the SQL expression of its name.
 */
#define DEFAULT_CRITICALITY_SQL(name) \
	" coalesce((SELECT d.criticality FROM supamon.criticality_default d" \
	"   WHERE d.project_name = $1 AND (d.job_pattern IS NULL OR " name " LIKE" \
	"     pg_catalog.replace(pg_catalog.replace(d.job_pattern, '\\', '\\\\'), '_', '\\_'))" \
	"   ORDER BY d.job_pattern IS NULL, pg_catalog.length(d.job_pattern) DESC, d.id LIMIT 1)," \
	"   'important')"

/*
 * What a check decides a project from, of its row (interval: the parameter
 * that holds supamon.repeat_interval): read by the check, or returned by the
 * recording's update of the row, which leaves it in snap->facts.
 */
#define PROJECT_FACTS_COLUMNS(interval) \
	"reachable, scheduler_running, remote_now, cron_timezone," \
	" pg_cron_version, coalesce(cron_log_run, true), status, last_error," \
	" " interval " > 0 AND (last_alerted_at IS NULL OR" \
	"   last_alerted_at <= now() - pg_catalog.make_interval(secs => " interval "))," \
	" extract(epoch FROM status_since)::int8, extract(epoch FROM outage_from)::int8," \
	" extract(epoch FROM outage_until)::int8, pg_catalog.floor(extract(epoch FROM now()))::int8," \
	" last_alerted_at IS NOT NULL AND last_alerted_at >= status_since," \
	" supabase_status, edge_refusal_alerted, health_note"

typedef struct InventoryCounts
{
	int			jobs;
	int			new_jobs;
	int			removed_jobs;
	int			runs_read;
	int			runs_logged;
} InventoryCounts;

/* A NULL timestamptz in the structures below: no valid time, nor -infinity. */
#define INVENTORY_NO_TIME ((TimestampTz) (PG_INT64_MIN + 1))

/*
 * The columns of a pg_cron job's inventory row that recording its runs
 * sets (read with INVENTORY_RUNS_COLUMNS, in this order).  A NULL text is
 * NULL, a NULL time INVENTORY_NO_TIME.
 */
typedef struct InventoryRuns
{
	bool		has_last_run;
	int64		last_run_id;
	char	   *last_run_status;
	TimestampTz last_run_started_at;
	TimestampTz last_run_ended_at;
	char	   *last_run_message;
	int32		consecutive_failures;
	TimestampTz last_start_at;
	char	   *run_strip;
	char	   *running_status;
	bool		has_running_run_id;
	int64		running_run_id;
	TimestampTz running_since;
} InventoryRuns;

#define INVENTORY_RUNS_COLUMNS \
	"last_run_id, last_run_status, last_run_started_at, last_run_ended_at, last_run_message," \
	" consecutive_failures, last_start_at, run_strip, running_status, running_run_id, running_since"

/* How many columns INVENTORY_RUNS_COLUMNS reads, and InventoryRunsValues gives. */
#define INVENTORY_RUNS_NCOLUMNS 11

/*
 * SQL that sets those columns from "u", the unnest of a record[] whose
 * columns are named by INVENTORY_RUNS_DEFINITION.
 */
#define INVENTORY_RUNS_SET \
	" last_run_id = u.last_run_id, last_run_status = u.last_run_status," \
	" last_run_started_at = u.last_run_started_at, last_run_ended_at = u.last_run_ended_at," \
	" last_run_message = u.last_run_message, consecutive_failures = u.consecutive_failures," \
	" last_start_at = u.last_start_at, run_strip = u.run_strip, running_status = u.running_status," \
	" running_run_id = u.running_run_id, running_since = u.running_since"

/*
 * Those columns as a record's (SupamonRecordArray): their SQL definition and
 * types, in their order.
 */
#define INVENTORY_RUNS_DEFINITION \
	"last_run_id int8, last_run_status text, last_run_started_at timestamptz," \
	" last_run_ended_at timestamptz, last_run_message text, consecutive_failures int4," \
	" last_start_at timestamptz, run_strip text, running_status text, running_run_id int8," \
	" running_since timestamptz"
#define INVENTORY_RUNS_RECORD_TYPES \
	INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT4OID, TIMESTAMPTZOID, \
	TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID

/* Puts a job's run columns in values[0..]/nulls[0..] (in that order). */
extern void InventoryRunsValues(const InventoryRuns *runs, Datum *values, bool *nulls);

/* A timestamptz[] of times, NULL where INVENTORY_NO_TIME. */
extern Datum InventoryTimeArray(TimestampTz *values, int n);

/* Whether two jobs' run columns differ. */
extern bool InventoryRunsDiffer(const InventoryRuns *a, const InventoryRuns *b);

/* A run strip with marks appended, its newest STRIP_RUNS kept. */
extern char *InventoryStripAppend(const char *strip, const char *marks);

/*
 * A pg_cron row of a project's inventory, as both the recording and a check
 * use it: one read of the project's rows serves both (InventoryReadJobs).
 */
typedef struct InventoryRow
{
	char	   *name;
	bool		removed;
	/* what the project said of the job */
	bool		has_job_id;
	int64		job_id;
	char	   *username;
	char	   *schedule;
	char	   *command;
	bool		active;
	char	   *database;
	bool		has_gap;		/* expected_interval_minutes */
	double		gap;
	bool		calls;			/* it has what pg_net callers have (calls_url...) */
	TimestampTz created;
	InventoryRuns runs;
	/* what the user set */
	int32		failure_threshold;
	bool		has_grace;
	int64		grace;			/* seconds */
	bool		has_max_runtime;
	int64		max_runtime;	/* seconds */
	char	   *criticality;
	/* what the last check decided, and who was told */
	char	   *status;
	char	   *reason;
	TimestampTz next_expected;	/* INVENTORY_NO_TIME: none */
	bool		reminder_due;	/* last told supamon.repeat_interval ago or more */
	bool		told;			/* someone was told of this status */
	bool		acked;			/* and acknowledged it */
	bool		http_failing;	/* the endpoint its pg_net call reached failed */
	char	   *http_error;
	TimestampTz missed_upto;	/* INVENTORY_NO_TIME: none */
} InventoryRow;

/*
 * The project's pg_cron rows (removed ones too), ordered by name, copied
 * out of SPI's memory (SPI must be connected).
 */
extern InventoryRow *InventoryReadJobs(const char *project, int *n);

/* A job of the snapshot as recorded: its inventory name and run columns. */
typedef struct InventoryJob
{
	char	   *name;			/* the key */
	bool		changed;		/* runs differ from the table's */
	bool		written;		/* and were written since */
	InventoryRuns runs;			/* as they are to be */
} InventoryJob;

/*
 * What recording a snapshot leaves to the caller (snap->recorded): every
 * job of the snapshot by inventory name, with the run columns that change.
 * A check writes those with the statuses it decides, so that a job with
 * news gets one new row version per check; otherwise
 * InventoryWriteRuns writes them.
 */
typedef struct InventoryRecorded
{
	HTAB	   *jobs;			/* name -> InventoryJob */
	int			nchanged;
	bool		any_calls;		/* a live job had calls_url or http_outcome set */

	/*
	 * The project's rows as the recording left them, for the check to decide
	 * from without reading them again; NULL once anything wrote them since
	 * (pg_net's recording does, when what it knows changes).  Nothing between
	 * that read and the check may wait for another session's lock unless it
	 * then sets this NULL: what that session commits would not be seen
	 * (audit.c records the Management API's part before it).
	 */
	InventoryRow *rows;
	int			nrows;
} InventoryRecorded;

/*
 * Records a successful snapshot (SPI must be connected): what changed of
 * its jobs, its runs, its bookkeeping; the jobs' run columns are left in
 * snap->recorded, unwritten.
 */
extern void InventoryRecord(ProjectSnapshot *snap, InventoryCounts *counts);

/* Writes the run columns that the recording left and no one wrote. */
extern void InventoryWriteRuns(ProjectSnapshot *snap);

/* Records why a project could not be collected; its jobs keep their state. */
extern void InventoryRecordFailure(ProjectSnapshot *snap);

/* The run strip: the newest STRIP_RUNS outcomes, each one mark (inventory.c). */
#define STRIP_RUNS 20
extern const char *SupamonStripMark(char what);

/*
 * Records what the Management API said of the project (its Edge Functions,
 * their traffic, its status there), whether or not its database answered.
 * edge_record.c.
 */
extern void InventoryRecordEdge(ProjectSnapshot *snap);

/*
 * Records which jobs call pg_net, queues their new runs, and matches the
 * responses read to the runs whose window closed.  pgnet_record.c.
 */
extern void PgNetRecord(ProjectSnapshot *snap);

#endif							/* SUPAMON_INVENTORY_H */
