/*
 * collect.h
 *		What one project's pg_cron looks like at one moment: its facts, its
 *		jobs and the runs newer than what supamon has seen.
 */
#ifndef SUPAMON_COLLECT_H
#define SUPAMON_COLLECT_H

#include "remote.h"

/* pg_cron statuses of a run */
#define RUN_IS_FINISHED(status) \
	(strcmp((status), "succeeded") == 0 || strcmp((status), "failed") == 0)

typedef struct CronJobRow
{
	int64		jobid;
	char	   *jobname;		/* NULL for unnamed jobs */
	char	   *schedule;
	char	   *command;
	char	   *username;
	char	   *database;
	bool		active;
} CronJobRow;

typedef struct CronRunRow
{
	int64		jobid;
	int64		runid;
	char	   *status;
	char	   *message;		/* trimmed; NULL when none */
	int			message_bytes;	/* its full length at the project */
	char	   *start_time;		/* UTC, ISO 8601 without zone; NULL if unknown */
	char	   *end_time;
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
} ProjectState;

typedef struct ProjectSnapshot
{
	ProjectState *project;
	bool		ok;
	char	   *error;			/* why not */
	int			elapsed_ms;

	/* facts */
	char	   *remote_now;		/* the project's clock, UTC ISO 8601 */
	char	   *cron_timezone;	/* NULL before pg_cron 1.5 */
	char	   *pgcron_version; /* NULL when not visible */
	bool		log_run;
	int			scheduler;		/* 1 running, 0 not running, -1 unknown */

	/* jobs and runs */
	int			njobs;
	CronJobRow *jobs;
	int			nruns;
	CronRunRow *runs;
	bool		bootstrapped;	/* history read from scratch */
	bool		has_max_runid;
	int64		max_runid;
} ProjectSnapshot;

/*
 * The query that collects a remote project: its session set-up and the
 * statements, one round trip.
 */
extern char *CollectSql(const ProjectState *p);

/* Reads the results of CollectSql (remote) into a snapshot. */
extern void CollectFromRemote(RemoteRequest *r, ProjectSnapshot *snap);

/* Collects this very database through SPI, in a subtransaction. */
extern void CollectLocal(ProjectSnapshot *snap);

#endif							/* SUPAMON_COLLECT_H */
