/*
 * health.h
 *		Deciding a job's health from its schedule and its runs: pure C, no
 *		backend headers, on the project's own clock.
 */
#ifndef SUPAMON_HEALTH_H
#define SUPAMON_HEALTH_H

#include "schedule.h"

typedef enum HealthStatus
{
	HEALTH_SUCCESS,
	HEALTH_FAILED,
	HEALTH_MISSED,
	HEALTH_STUCK,
	HEALTH_UNKNOWN,
	HEALTH_PAUSED,
	HEALTH_REMOVED
} HealthStatus;

#define HEALTH_NO_TIME INT64_MIN

/* Everything known about one pg_cron job; times in seconds since 1970 UTC. */
typedef struct HealthInput
{
	const SmSchedule *schedule; /* NULL: its pg_cron rejects it */
	const char *schedule_error; /* why */
	const SmTimeZone *tz;		/* the project's cron.timezone */
	int64_t		now;			/* the project's clock */
	bool		removed;
	bool		active;
	bool		log_run;		/* cron.log_run: is there any history? */
	int64_t		known_since;	/* when supamon first saw the job */
	int64_t		last_finished_start;	/* latest finished run, or NO_TIME */
	bool		last_finished_failed;
	const char *last_error;
	int64_t		last_start;		/* latest start of any run, or NO_TIME */
	int64_t		running_since;	/* oldest run in progress, or NO_TIME */
	const char *running_status;
	int			consecutive_failures;
	int			failure_threshold;	/* failures in a row before "failed" */
	int64_t		grace;			/* per-job override (seconds), or NO_TIME */
	int64_t		max_runtime;	/* per-job override (seconds), or NO_TIME */
} HealthInput;

typedef struct HealthResult
{
	HealthStatus status;
	char		reason[320];
	int64_t		next_expected;	/* the next fire time, or NO_TIME */
	int64_t		missed_fire;	/* the fire time that was missed, or NO_TIME */
} HealthResult;

extern void health_decide(const HealthInput *in, HealthResult *out);
extern const char *health_status_name(HealthStatus status);

/* Half the gap between two fires, at least a minute, at most an hour. */
extern int64_t health_default_grace(int64_t gap);

/* The gap between fires, at least 10 minutes, at most 6 hours. */
extern int64_t health_default_max_runtime(int64_t gap);

/* "2026-11-29 03:00 UTC" */
extern void health_format_time(int64_t t, char *buf, size_t len);

/* Exact: "1 h 5 min", "2 min 30 s", "45 s", "0 s" for none or less */
extern void health_format_duration(int64_t seconds, char *buf, size_t len);

#endif							/* SUPAMON_HEALTH_H */
