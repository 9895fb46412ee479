/*
 * test_health.c
 *		Unit tests of the health decisions (src/health.c), on a fixed clock.
 */
#include "health.h"
#include "unit.h"

#include <string.h>

/* 2026-11-27 12:00:30 UTC, a Friday */
#define NOW 1795780830LL
#define MIN 60LL
#define HOUR 3600LL

static SmSchedule sched;

static HealthInput
job(const char *schedule)
{
	HealthInput in;
	char		err[200];

	memset(&in, 0, sizeof(in));
	if (sm_parse(schedule, strlen(schedule), SM_PGCRON_1_6, &sched, err, sizeof(err)))
		in.schedule = &sched;
	else
		in.schedule_error = "rejected";
	in.tz = &sm_utc;
	in.now = NOW;
	in.active = true;
	in.log_run = true;
	in.known_since = NOW - 30 * 24 * HOUR;
	in.last_finished_start = HEALTH_NO_TIME;
	in.last_start = HEALTH_NO_TIME;
	in.running_since = HEALTH_NO_TIME;
	in.failure_threshold = 1;
	in.grace = HEALTH_NO_TIME;
	in.max_runtime = HEALTH_NO_TIME;
	return in;
}

static void
ran(HealthInput *in, int64_t started, bool failed)
{
	in->last_finished_start = started;
	in->last_start = started;
	in->last_finished_failed = failed;
	in->consecutive_failures = failed ? in->consecutive_failures + 1 : 0;
	in->last_error = failed ? "ERROR:  boom\n" : NULL;
}

static HealthStatus
decide(const HealthInput *in, HealthResult *out)
{
	health_decide(in, out);
	return out->status;
}

int
main(void)
{
	HealthInput in;
	HealthResult out;

	/* success, failed (trimmed), missed */
	in = job("* * * * *");
	ran(&in, NOW - 30, false);
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "%s", out.reason);
	CHECK(out.next_expected == NOW - 30 + 60, "next %lld", (long long) out.next_expected);
	ran(&in, NOW - 30, true);
	CHECK(decide(&in, &out) == HEALTH_FAILED && strcmp(out.reason, "ERROR:  boom") == 0, "%s", out.reason);
	in = job("* * * * *");
	ran(&in, NOW - 5 * MIN, false);
	CHECK(decide(&in, &out) == HEALTH_MISSED, "%s", out.reason);

	/* grace: the fire at 12:00 is 30 s old, within its 1 min grace; 11:59 is due */
	in = job("* * * * *");
	ran(&in, NOW - 90, false);	/* started 11:59:00 */
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "11:59 run covers the due fire: %s", out.reason);
	ran(&in, NOW - 91, false);	/* started 11:58:59, before 11:59 */
	CHECK(decide(&in, &out) == HEALTH_MISSED && out.missed_fire == NOW - 90, "%s", out.reason);

	/*
	 * On a minute boundary the latest fire has no grace spent and the one
	 * before has exactly its grace: the one before that is due (a check at
	 * 12:01:00 sharp must see that 11:59 was missed).
	 */
	in = job("* * * * *");
	in.now = NOW + 30;			/* 12:01:00 */
	ran(&in, NOW - 10 * MIN, false);
	CHECK(decide(&in, &out) == HEALTH_MISSED && out.missed_fire == NOW - 90,
		  "12:01:00 sharp: %s", out.reason);
	/* a grace longer than several gaps: the first fire beyond it is due */
	in.grace = 5 * MIN;
	CHECK(decide(&in, &out) == HEALTH_MISSED && out.missed_fire == NOW + 30 - 6 * MIN,
		  "grace 5 min: %s", out.reason);
	ran(&in, NOW - 5 * MIN - 30, false);	/* 11:55:00 */
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "grace 5 min, ran 11:55: %s", out.reason);

	/*
	 * Found on a Saturday, never run: Friday's last fire (16:55) came before
	 * supamon knew the job, so it proves nothing yet.
	 */
	in = job("*/5 9-17 * * 1-5");
	in.now = NOW + 24 * HOUR;	/* Saturday 12:00:30 */
	in.known_since = in.now - 10 * MIN;
	CHECK(decide(&in, &out) == HEALTH_UNKNOWN, "found Saturday: %s", out.reason);

	/* every 2 hours: grace is an hour (capped), last run at 10:00 covers 10:00 */
	in = job("0 */2 * * *");
	ran(&in, NOW - 2 * HOUR - 30 + 2, false);	/* 10:00:02 */
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "%s", out.reason);
	ran(&in, NOW - 4 * HOUR, false);	/* 08:00:30 */
	CHECK(decide(&in, &out) == HEALTH_MISSED, "%s", out.reason);
	/* a per-job grace overrides */
	in.grace = 3 * HOUR;
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "grace 3 h: %s", out.reason);

	/* working hours, outside them: the last fire was 17:55 yesterday */
	in = job("*/5 9-11 * * *");
	ran(&in, NOW - 30 - 5 * MIN, false);	/* 11:55:00 */
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "%s", out.reason);
	/* weekdays only on a weekend would not be missed either */
	in = job("0 9 * * 1-5");
	in.now = NOW + 24 * HOUR;	/* Saturday */
	ran(&in, NOW - 3 * HOUR - 30, false);	/* Friday 09:00 */
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "%s", out.reason);

	/* in progress within its allowed runtime: not missed; beyond: stuck */
	in = job("* * * * *");
	ran(&in, NOW - 10 * MIN, false);
	in.running_since = NOW - 5 * MIN;
	in.last_start = NOW - 5 * MIN;
	in.running_status = "running";
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "%s", out.reason);
	in.running_since = NOW - 11 * MIN;
	CHECK(decide(&in, &out) == HEALTH_STUCK && strstr(out.reason, "allowed 10 min"), "%s", out.reason);
	in.max_runtime = 10 * MIN + 30;
	in.running_since = NOW - 11 * MIN - 5;
	CHECK(decide(&in, &out) == HEALTH_STUCK && strstr(out.reason, "(11 min 5 s, allowed 10 min 30 s)"),
		  "%s", out.reason);
	in.max_runtime = 20 * MIN;
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "max_runtime 20 min: %s", out.reason);
	in = job("0 3 * * *");	/* daily: allowed runtime capped at 6 h */
	ran(&in, NOW - 33 * HOUR, false);
	in.running_since = NOW - 7 * HOUR;
	in.running_status = "connecting";
	CHECK(decide(&in, &out) == HEALTH_STUCK && strstr(out.reason, "connecting"), "%s", out.reason);

	/* failure threshold */
	in = job("* * * * *");
	in.failure_threshold = 3;
	ran(&in, NOW - 30, true);
	ran(&in, NOW - 30, true);
	CHECK(decide(&in, &out) == HEALTH_SUCCESS && strstr(out.reason, "below"), "%s", out.reason);
	ran(&in, NOW - 30, true);
	CHECK(decide(&in, &out) == HEALTH_FAILED, "%s", out.reason);

	/* never seen running: unknown for one period plus grace, then missed */
	in = job("*/5 * * * *");
	in.known_since = NOW - 3 * MIN;
	CHECK(decide(&in, &out) == HEALTH_UNKNOWN, "%s", out.reason);
	in.known_since = NOW - 20 * MIN;
	CHECK(decide(&in, &out) == HEALTH_MISSED && strstr(out.reason, "never"), "%s", out.reason);

	/* interval schedules */
	in = job("30 seconds");
	ran(&in, NOW - 20, false);
	CHECK(decide(&in, &out) == HEALTH_SUCCESS && out.next_expected == NOW + 10, "%s", out.reason);
	ran(&in, NOW - 3 * MIN, false);
	CHECK(decide(&in, &out) == HEALTH_MISSED, "%s", out.reason);

	/* paused, removed, rejected schedule, no history, never firing, reboot */
	in = job("* * * * *");
	in.active = false;
	CHECK(decide(&in, &out) == HEALTH_PAUSED, "%s", out.reason);
	in.removed = true;
	CHECK(decide(&in, &out) == HEALTH_REMOVED, "%s", out.reason);
	in = job("61 * * * *");
	CHECK(decide(&in, &out) == HEALTH_UNKNOWN && strstr(out.reason, "invalid schedule"), "%s", out.reason);
	in = job("* * * * *");
	in.log_run = false;
	CHECK(decide(&in, &out) == HEALTH_UNKNOWN && strstr(out.reason, "log_run"), "%s", out.reason);
	in = job("0 0 30 2 *");
	CHECK(decide(&in, &out) == HEALTH_UNKNOWN && strstr(out.reason, "never fire"), "%s", out.reason);
	in = job("@reboot");
	ran(&in, NOW - 40 * 24 * HOUR, false);
	CHECK(decide(&in, &out) == HEALTH_SUCCESS, "a reboot job is never missed: %s", out.reason);

	/* helpers */
	CHECK(health_default_grace(60) == 60 && health_default_grace(600) == 300 &&
		  health_default_grace(86400) == 3600, "grace");
	CHECK(health_default_max_runtime(60) == 600 && health_default_max_runtime(3600) == 3600 &&
		  health_default_max_runtime(86400) == 21600, "max runtime");
	{
		char		b[40];

		static const struct
		{
			int64_t		s;
			const char *want;
		}			durations[] = {
			{3660, "1 h 1 min"}, {150, "2 min 30 s"}, {3607, "1 h 7 s"},
			{3 * 24 * HOUR + 2 * HOUR, "3 days 2 h"}, {24 * HOUR, "1 day"}, {45, "45 s"},
			{0, "0 s"}, {-5, "0 s"}, {2 * HOUR, "2 h"}, {24 * HOUR + 1, "1 day 1 s"},
			{INT64_MAX, "106751991167300 days 15 h 30 min 7 s"}
		};

		for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
		{
			health_format_duration(durations[i].s, b, sizeof(b));
			CHECK(strcmp(b, durations[i].want) == 0, "%lld: %s", (long long) durations[i].s, b);
		}
		health_format_duration(150, b, 6);
		CHECK(strcmp(b, "2 min") == 0, "cut to the buffer: %s", b);
		health_format_time(NOW, b, sizeof(b));
		CHECK(strcmp(b, "2026-11-27 12:00 UTC") == 0, "%s", b);
	}
	return unit_finish("health");
}
