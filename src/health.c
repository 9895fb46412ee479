/*
 * health.c
 *		A job's status from its schedule and its runs, on the project's own
 *		clock.  No backend headers: unit tested outside the server.
 *
 * In order of precedence:
 *	removed		gone from the project
 *	paused		active = false (never alerted)
 *	unknown		its pg_cron rejects the schedule, or cron.log_run is off
 *	stuck		a run in progress longer than its allowed runtime
 *	failed		the latest finished run failed (failure_threshold in a row)
 *	missed		the latest fire time T more than grace ago has no run
 *				started at or after T, and none is in progress
 *	success		the latest finished run succeeded, nothing overdue
 *	unknown		no finished run yet (and not yet overdue)
 *
 * A run still in progress within its allowed runtime is not a miss: pg_cron
 * starts the next run late.  A job never seen running is unknown until
 * supamon has known it for one period plus grace.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>

#define MINUTE 60
#define HOUR 3600

static const char *const status_names[] = {
	"success", "failed", "missed", "stuck", "unknown", "paused", "removed"
};

const char *
health_status_name(HealthStatus status)
{
	return status_names[status];
}

int64_t
health_default_grace(int64_t gap)
{
	int64_t		g = gap / 2;

	if (g < MINUTE)
		g = MINUTE;
	if (g > HOUR)
		g = HOUR;
	return g;
}

int64_t
health_default_max_runtime(int64_t gap)
{
	if (gap < 10 * MINUTE)
		return 10 * MINUTE;
	if (gap > 6 * HOUR)
		return 6 * HOUR;
	return gap;
}

void
health_format_time(int64_t t, char *buf, size_t len)
{
	int64_t		days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t		rem = t - days * 86400;
	int			y,
				m,
				d;

	sm_civil_from_days(days, &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d UTC", y, m, d,
			 (int) (rem / 3600), (int) (rem % 3600 / 60));
}

/*
 * Exact, the zero parts left out: "2 min 30 s", "1 h 7 s", "3 days 2 h".
 * A reason that says "allowed 10 min" must not hide the 59 s beyond it.
 */
void
health_format_duration(int64_t s, char *buf, size_t len)
{
	static const struct
	{
		int64_t		size;
		const char *one;
		const char *many;
	}			parts[] = {
		{24 * HOUR, "day", "days"}, {HOUR, "h", "h"}, {MINUTE, "min", "min"}, {1, "s", "s"}
	};
	char		text[96] = "0 s";
	size_t		o = 0;

	for (size_t i = 0; s > 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
	{
		int64_t		q = s / parts[i].size;

		s %= parts[i].size;
		if (q > 0)
			o += (size_t) snprintf(text + o, sizeof(text) - o, "%s%lld %s", o ? " " : "",
								   (long long) q, q == 1 ? parts[i].one : parts[i].many);
	}
	snprintf(buf, len, "%s", text);
}

/*
 * src copied into dst (size bytes); when it does not fit, cut before a
 * UTF-8 character that would not fit whole and end with "...", so the
 * reader knows there was more.
 */
static void
copy_clipped(char *dst, size_t size, const char *src)
{
	size_t		len = strlen(src);
	size_t		cut;

	if (len < size)
	{
		memcpy(dst, src, len + 1);
		return;
	}
	cut = size - 4;
	/* back off continuation bytes to the start of the character cut through */
	while (cut > 0 && ((unsigned char) src[cut] & 0xC0) == 0x80)
		cut--;
	memcpy(dst, src, cut);
	memcpy(dst + cut, "...", 4);
}

/* The gap between fire time t and the one before it, or 0. */
static int64_t
gap_before(const HealthInput *in, int64_t t)
{
	int64_t		prev;

	if (sm_prev(in->schedule, t - 1, in->tz, &prev) != SM_FOUND)
		return 0;
	return t - prev;
}

static int64_t
grace_for(const HealthInput *in, int64_t gap)
{
	return in->grace != HEALTH_NO_TIME ? in->grace : health_default_grace(gap);
}

/*
 * The period between fires, for the allowed runtime and for "known long
 * enough": the gap before the latest fire, or the interval.
 */
static int64_t
period(const HealthInput *in)
{
	int64_t		t;

	if (in->schedule->kind == SM_KIND_INTERVAL)
		return in->schedule->interval_seconds;
	if (in->schedule->kind == SM_KIND_CRON && in->schedule->can_fire &&
		sm_prev(in->schedule, in->now, in->tz, &t) == SM_FOUND)
		return gap_before(in, t);
	return 0;
}

/*
 * The fire time that should have a run by now: the latest one whose grace
 * has passed, walking back from the latest fire for as long as grace keeps
 * the later ones open (a grace as long as the gap, or longer by override,
 * leaves more than one fire open).  False when there is none.
 */
static bool
due_fire(const HealthInput *in, int64_t *due, int64_t *grace)
{
	int64_t		t = in->now + 1;

	/* a fixed grace: the latest fire more than that long ago */
	if (in->grace != HEALTH_NO_TIME)
	{
		if (sm_prev(in->schedule, in->now - in->grace - 1, in->tz, due) != SM_FOUND)
			return false;
		*grace = in->grace;
		return true;
	}
	/* the default grace is at most an hour: at most 61 minutely fires back */
	for (int i = 0; i < 100; i++)
	{
		int64_t		g;

		if (sm_prev(in->schedule, t - 1, in->tz, &t) != SM_FOUND)
			return false;
		g = grace_for(in, gap_before(in, t));
		if (in->now - t > g)
		{
			*due = t;
			*grace = g;
			return true;
		}
	}
	return false;
}

void
health_decide(const HealthInput *in, HealthResult *out)
{
	char		t1[40],
				d1[40],
				d2[40];
	bool		running = in->running_since != HEALTH_NO_TIME;
	int64_t		gap;

	memset(out, 0, sizeof(*out));
	out->next_expected = HEALTH_NO_TIME;
	out->missed_fire = HEALTH_NO_TIME;

	if (in->removed)
	{
		out->status = HEALTH_REMOVED;
		snprintf(out->reason, sizeof(out->reason), "no longer in the project's cron.job");
		return;
	}
	if (!in->active)
	{
		out->status = HEALTH_PAUSED;
		snprintf(out->reason, sizeof(out->reason), "inactive (cron.job.active = false)");
		return;
	}
	if (in->schedule == NULL)
	{
		out->status = HEALTH_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), "invalid schedule: %s",
				 in->schedule_error ? in->schedule_error : "rejected");
		return;
	}

	/* when it should run next */
	if (in->schedule->kind == SM_KIND_INTERVAL)
	{
		int64_t		base = in->last_start != HEALTH_NO_TIME ? in->last_start : in->known_since;

		out->next_expected = base + in->schedule->interval_seconds;
	}
	else if (in->schedule->kind == SM_KIND_CRON && in->schedule->can_fire)
	{
		int64_t		n;

		if (sm_next(in->schedule, in->now, in->tz, &n) == SM_FOUND)
			out->next_expected = n;
	}

	if (!in->log_run)
	{
		out->status = HEALTH_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason),
				 "cron.log_run is off: pg_cron keeps no run history");
		return;
	}

	gap = period(in);
	if (running)
	{
		int64_t		allowed = in->max_runtime != HEALTH_NO_TIME ? in->max_runtime :
			health_default_max_runtime(gap);

		if (in->now - in->running_since > allowed)
		{
			health_format_duration(in->now - in->running_since, d1, sizeof(d1));
			health_format_duration(allowed, d2, sizeof(d2));
			health_format_time(in->running_since, t1, sizeof(t1));
			out->status = HEALTH_STUCK;
			snprintf(out->reason, sizeof(out->reason), "%s since %s (%s, allowed %s)",
					 in->running_status ? in->running_status : "running", t1, d1, d2);
			return;
		}
	}

	if (in->last_finished_start != HEALTH_NO_TIME && in->last_finished_failed &&
		in->consecutive_failures >= (in->failure_threshold > 0 ? in->failure_threshold : 1))
	{
		size_t		n;

		out->status = HEALTH_FAILED;
		copy_clipped(out->reason, sizeof(out->reason),
					 in->last_error && in->last_error[0] ? in->last_error : "the latest run failed");
		/* pg_cron's messages end in a newline */
		n = strlen(out->reason);
		while (n > 0 && (out->reason[n - 1] == '\n' || out->reason[n - 1] == ' ' ||
						 out->reason[n - 1] == '\r' || out->reason[n - 1] == '\t'))
			out->reason[--n] = '\0';
		return;
	}

	/* missed: an overdue fire time with no run started at or after it */
	if (!running && in->schedule->can_fire)
	{
		int64_t		due = HEALTH_NO_TIME,
					grace = 0;
		bool		overdue = false;

		if (in->schedule->kind == SM_KIND_INTERVAL)
		{
			int64_t		base = in->last_start != HEALTH_NO_TIME ? in->last_start : in->known_since;

			grace = grace_for(in, in->schedule->interval_seconds);
			due = base + in->schedule->interval_seconds;
			overdue = in->now - due > grace;
		}
		else if (in->schedule->kind == SM_KIND_CRON)
			overdue = due_fire(in, &due, &grace) &&
				(in->last_start == HEALTH_NO_TIME || in->last_start < due);

		if (overdue)
		{
			bool		never = in->last_start == HEALTH_NO_TIME;

			/* a fire before supamon knew the job is no proof of a miss */
			if (never && (due < in->known_since || in->now - in->known_since <= gap + grace))
			{
				out->status = HEALTH_UNKNOWN;
				snprintf(out->reason, sizeof(out->reason), "not run yet since supamon found it");
				return;
			}
			health_format_time(due, t1, sizeof(t1));
			health_format_duration(grace, d1, sizeof(d1));
			out->status = HEALTH_MISSED;
			out->missed_fire = due;
			if (never)
				snprintf(out->reason, sizeof(out->reason),
						 "never seen running; due at %s (grace %s)", t1, d1);
			else
			{
				char		t2[40];

				health_format_time(in->last_start, t2, sizeof(t2));
				snprintf(out->reason, sizeof(out->reason),
						 "no run started for %s (grace %s); last started %s", t1, d1, t2);
			}
			return;
		}
	}

	if (in->last_finished_start != HEALTH_NO_TIME)
	{
		out->status = HEALTH_SUCCESS;
		if (in->last_finished_failed)
			snprintf(out->reason, sizeof(out->reason), "%d failure(s) in a row, below its threshold of %d",
					 in->consecutive_failures, in->failure_threshold);
		return;
	}
	out->status = HEALTH_UNKNOWN;
	if (!in->schedule->can_fire && in->schedule->kind == SM_KIND_CRON)
		snprintf(out->reason, sizeof(out->reason), "its schedule can never fire: %s",
				 in->schedule->never_reason);
	else if (in->schedule->kind == SM_KIND_REBOOT)
		snprintf(out->reason, sizeof(out->reason), "runs only when the server starts; no run seen");
	else if (running)
		snprintf(out->reason, sizeof(out->reason), "its first run is in progress");
	else
		snprintf(out->reason, sizeof(out->reason), "no finished run yet");
}
