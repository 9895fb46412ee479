/*
 * test_schedule.c
 *		Unit tests of the schedule module: pg_cron's verdict on schedules,
 *		next and previous fire times in UTC and across DST, and a property
 *		test against a brute-force minute-by-minute evaluation in real zones
 *		(the C library's zone code, independent of PostgreSQL's).
 */
#define _GNU_SOURCE
#include "schedule.h"
#include "unit.h"
#include "json_check.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a time zone from the C library: TZ names a zone of the system ---- */

typedef struct LibcZone
{
	/* the last segment found, so walks forward in time stay cheap */
	int64_t		from;
	int64_t		until;
	int32_t		offset;
} LibcZone;

static int32_t
libc_offset(int64_t t)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	localtime_r(&tt, &tm);
	return (int32_t) tm.tm_gmtoff;
}

/*
 * The offset at t and the next change, found by stepping 6 hours at a time
 * (zones never change twice within 6 hours) and bisecting to the second.
 * Beyond two years without a change, "may change" is reported at that point.
 */
static bool
libc_offset_at(void *arg, int64_t t, int32_t *offset, int64_t *next_change)
{
	LibcZone   *z = arg;
	int64_t		lo,
				hi;
	int32_t		off;

	if (t >= z->from && t < z->until)
	{
		*offset = z->offset;
		*next_change = z->until;
		return true;
	}
	off = libc_offset(t);
	lo = t;
	hi = t;
	for (;;)
	{
		hi = lo + 6 * 3600;
		if (hi - t > 2 * 366 * 86400)
		{
			lo = hi;
			break;
		}
		if (libc_offset(hi) != off)
		{
			while (hi - lo > 1)
			{
				int64_t		mid = lo + (hi - lo) / 2;

				if (libc_offset(mid) == off)
					lo = mid;
				else
					hi = mid;
			}
			lo = hi;
			break;
		}
		lo = hi;
	}
	z->from = t;
	z->until = lo;
	z->offset = off;
	*offset = off;
	*next_change = lo;
	return true;
}

static LibcZone libc_zone;
static SmTimeZone zone = {libc_offset_at, &libc_zone};

static void
use_zone(const char *name)
{
	setenv("TZ", name, 1);
	tzset();
	memset(&libc_zone, 0, sizeof(libc_zone));
}

/* ---- helpers ---- */

/* a fixed pseudo-random sequence (xorshift), so failures repeat */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned) (rng % n);
}

static int64_t
ts(int y, int m, int d, int h, int mi)
{
	return sm_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void
fmt_ts(int64_t t, char *buf)
{
	int			y,
				m,
				d;
	int64_t		days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t		rem = t - days * 86400;

	sm_civil_from_days(days, &y, &m, &d);
	sprintf(buf, "%04d-%02d-%02d %02d:%02d UTC", y, m, d, (int) (rem / 3600),
			(int) (rem % 3600 / 60));
}

static bool
parse(const char *text, SmCronVersion v, SmSchedule *s)
{
	char		err[256];

	return sm_parse(text, strlen(text), v, s, err, sizeof(err));
}

static void
check_next(const char *sched, const SmTimeZone *tz, int64_t after, int64_t want)
{
	SmSchedule	s;
	int64_t		got = 0;
	char		a[40],
				b[40];

	if (!parse(sched, SM_PGCRON_1_6, &s))
	{
		CHECK(false, "\"%s\" did not parse", sched);
		return;
	}
	CHECK(sm_next(&s, after, tz, &got) == SM_FOUND && got == want,
		  "next(\"%s\") = %s, want %s", sched, (fmt_ts(got, a), a), (fmt_ts(want, b), b));
}

static void
check_prev(const char *sched, const SmTimeZone *tz, int64_t at, int64_t want)
{
	SmSchedule	s;
	int64_t		got = 0;
	char		a[40],
				b[40];

	if (!parse(sched, SM_PGCRON_1_6, &s))
	{
		CHECK(false, "\"%s\" did not parse", sched);
		return;
	}
	CHECK(sm_prev(&s, at, tz, &got) == SM_FOUND && got == want,
		  "prev(\"%s\") = %s, want %s", sched, (fmt_ts(got, a), a), (fmt_ts(want, b), b));
}

/* ---- what pg_cron accepts ---- */

typedef struct Verdict
{
	const char *text;
	bool		v14;
	bool		v15;
	bool		v16;
} Verdict;

static const Verdict verdicts[] = {
	{"* * * * *", true, true, true},
	{"*/5 * * * *", true, true, true},
	{"0 */2 * * *", true, true, true},
	{"0 9 * * 1-5", true, true, true},
	{"*/5 9-17 * * *", true, true, true},
	{"1-30/7 * * * *", true, true, true},
	{"0 0 1,15 * *", true, true, true},
	{"0 0 * jan,JUL *", true, true, true},
	{"0 0 * * mon-FRI", true, true, true},
	{"0 0 * * 7", true, true, true},
	{"0 0 * * 0", true, true, true},
	{"  0   0 * * *  ", true, true, true},
	{"0\t0\t*\t*\t*", true, true, true},
	{"* * * * * extra fields", true, true, true},
	{"5% * * * *", true, true, true},
	{"1-5-7 * * * *", true, true, true},
	{"*/100 * * * *", true, true, true},
	{"@hourly", true, true, true},
	{"@daily", true, true, true},
	{"@midnight", true, true, true},
	{"@weekly", true, true, true},
	{"@monthly", true, true, true},
	{"@yearly", true, true, true},
	{"@annually", true, true, true},
	{"@reboot", true, true, true},
	{"@daily now", true, true, true},
	{"0 0 $ * *", false, false, true},
	{"0 12 $ 2 *", false, false, true},
	{"30 seconds", false, true, true},
	{"1 second", false, true, true},
	{"59 SECONDS", false, true, true},
	{"  7 seconds  ", false, true, true},
	{"7seconds", false, true, true},
	{"+7 seconds", false, true, true},
	{"", false, false, false},
	{"   ", false, false, false},
	{"* * * *", false, false, false},
	{"60 * * * *", false, false, false},
	{"* 24 * * *", false, false, false},
	{"* * 0 * *", false, false, false},
	{"* * 32 * *", false, false, false},
	{"* * * 13 *", false, false, false},
	{"* * * 0 *", false, false, false},
	{"* * * * 8", false, false, false},
	{"5/10 * * * *", false, false, false},
	{"*/0 * * * *", false, false, false},
	{"5-64/30 * * * *", false, false, false},
	{"60 seconds", false, false, false},
	{"0 seconds", false, false, false},
	{"-5 seconds", false, false, false},
	{"30 second x", false, false, false},
	{"30 seconds x", false, false, false},
	{"30 second ", false, false, false},
	{"30 secs", false, false, false},
	{"@Daily", false, false, false},
	{"@every 5m", false, false, false},
	{"@", false, false, false},
	{"L * * * *", false, false, false},
	{"? * * * *", false, false, false},
	{"1,,2 * * * *", false, false, false},
	{"1, * * * *", false, false, false},
	{"a * * * *", false, false, false},
	{"* * * January *", false, false, false},
	{"* * * * Monday", false, false, false},
	{"$ * * * *", false, false, false},
	{"0 0 $5 * *", false, false, false},
	{"0 0 1,$ * *", false, false, false},
	{"*/Mon * * * *", false, false, false},
	{"# a comment", false, false, false},
};

static void
test_verdicts(void)
{
	SmSchedule	s;
	char		err[256];

	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
	{
		const Verdict *v = &verdicts[i];
		bool		got14 = sm_parse(v->text, strlen(v->text), SM_PGCRON_1_4, &s, err, sizeof(err));
		bool		got15 = sm_parse(v->text, strlen(v->text), SM_PGCRON_1_5, &s, err, sizeof(err));
		bool		got16 = sm_parse(v->text, strlen(v->text), SM_PGCRON_1_6, &s, err, sizeof(err));

		CHECK(got14 == v->v14 && got15 == v->v15 && got16 == v->v16,
			  "\"%s\": 1.4 %d 1.5 %d 1.6 %d (%s)", v->text, got14, got15, got16, err);
		if (!got16)
			CHECK(err[0] != '\0', "\"%s\" rejected without a reason", v->text);
	}

	/* a reason names the field and the value */
	sm_parse("0 25 * * *", 10, SM_PGCRON_1_6, &s, err, sizeof(err));
	CHECK(strcmp(err, "hour field: 25 is out of range 0-23") == 0, "%s", err);
	sm_parse("0 0 * * Funday", 14, SM_PGCRON_1_6, &s, err, sizeof(err));
	CHECK(strstr(err, "day-of-week") && strstr(err, "Funday"), "%s", err);
	sm_parse("30 seconds", 10, SM_PGCRON_1_4, &s, err, sizeof(err));
	CHECK(strstr(err, "1.5") != NULL, "%s", err);
	sm_parse("0 0 $ * *", 9, SM_PGCRON_1_5, &s, err, sizeof(err));
	CHECK(strstr(err, "1.6") != NULL, "%s", err);

	/* a long schedule is rejected, as pg_cron's 1000-byte buffer does */
	{
		char		longs[1200];

		memset(longs, ' ', sizeof(longs));
		memcpy(longs + 1100, "* * * * *", 9);
		CHECK(!sm_parse(longs, 1109, SM_PGCRON_1_6, &s, err, sizeof(err)), "long schedule accepted");
	}
}

static void
test_fields(void)
{
	SmSchedule	s;

	CHECK(parse("*/5 9-17 * * *", SM_PGCRON_1_6, &s), "parse");
	CHECK(s.minute == 0x0842108421084210ull >> 4 || s.minute != 0, "minute bits");
	for (int m = 0; m < 60; m++)
		CHECK(((s.minute >> m) & 1) == (m % 5 == 0), "minute %d", m);
	for (int h = 0; h < 24; h++)
		CHECK(((s.hour >> h) & 1) == (h >= 9 && h <= 17), "hour %d", h);
	CHECK((s.flags & SM_MIN_STAR) && !(s.flags & SM_HR_STAR), "flags %x", s.flags);

	CHECK(parse("0 0 * * 7", SM_PGCRON_1_6, &s) && s.dow == 1, "Sunday as 7: %x", s.dow);
	CHECK(parse("0 0 * * Sun,sat", SM_PGCRON_1_6, &s) && s.dow == 0x41, "Sun,Sat: %x", s.dow);
	CHECK(parse("0 0 * * mon-fri", SM_PGCRON_1_6, &s) && s.dow == 0x3e, "Mon-Fri: %x", s.dow);
	CHECK(parse("0 0 1 jan-mar *", SM_PGCRON_1_6, &s) && s.month == 0xe, "Jan-Mar: %x", s.month);
	CHECK(parse("1-30/7 * * * *", SM_PGCRON_1_6, &s) &&
		  s.minute == ((1ull << 1) | (1ull << 8) | (1ull << 15) | (1ull << 22) | (1ull << 29)),
		  "1-30/7: %llx", (unsigned long long) s.minute);
	CHECK(parse("*/100 * * * *", SM_PGCRON_1_6, &s) && s.minute == 1, "*/100 is minute 0");

	/* day rules */
	CHECK(parse("0 0 1 * 1", SM_PGCRON_1_6, &s) && !(s.flags & (SM_DOM_STAR | SM_DOW_STAR)), "OR");
	CHECK(parse("0 0 */2 * 1", SM_PGCRON_1_6, &s) && (s.flags & SM_DOM_STAR), "*/2 counts as a star");

	/* quirks: warnings, never-firing schedules */
	CHECK(parse("* * * * * extra", SM_PGCRON_1_6, &s) && s.nwarnings == 1 && s.can_fire,
		  "trailing field warns");
	CHECK(parse("5-1 * * * *", SM_PGCRON_1_6, &s) && !s.can_fire && s.nwarnings == 1,
		  "reversed range never fires");
	CHECK(parse("0 0 * * mon-sun", SM_PGCRON_1_6, &s) && !s.can_fire, "Mon-Sun (1-0) selects nothing");
	CHECK(parse("0 0 30 2 *", SM_PGCRON_1_6, &s) && !s.can_fire, "February 30 never fires");
	CHECK(parse("0 0 31 4,6,9,11 *", SM_PGCRON_1_6, &s) && !s.can_fire, "31st of a 30-day month");
	CHECK(parse("0 0 31 4,5 *", SM_PGCRON_1_6, &s) && s.can_fire, "May 31 fires");
	CHECK(parse("@yearly", SM_PGCRON_1_6, &s) && !s.can_fire && s.nwarnings == 1, "@yearly in 1.6");
	CHECK(parse("@yearly", SM_PGCRON_1_4, &s) && s.can_fire && s.month == 2, "@yearly in 1.4");
	CHECK(parse("@reboot", SM_PGCRON_1_6, &s) && s.kind == SM_KIND_REBOOT && !s.can_fire, "@reboot");
	CHECK(parse("30 seconds", SM_PGCRON_1_6, &s) && s.kind == SM_KIND_INTERVAL &&
		  s.interval_seconds == 30, "30 seconds");

}

/*
 * pg_cron versions: what pg_extension.extversion holds (1.0 to 1.6, 1.4-1)
 * and release numbers; anything else is unknown, not "the newest".
 */
static void
test_versions(void)
{
	static const struct
	{
		const char *text;
		SmCronVersion want;
	}			known[] = {
		{"1.0", SM_PGCRON_1_4}, {"1.3", SM_PGCRON_1_4}, {"1.4", SM_PGCRON_1_4},
		{"1.4-1", SM_PGCRON_1_4}, {"1.4.2", SM_PGCRON_1_4}, {"1.5", SM_PGCRON_1_5},
		{"1.5.2", SM_PGCRON_1_5}, {"1.6", SM_PGCRON_1_6}, {"1.6-1", SM_PGCRON_1_6},
		{"1.6.0", SM_PGCRON_1_6_0}, {"1.6.4", SM_PGCRON_1_6_0},
		{"1.6.004", SM_PGCRON_1_6_0}, {"1.6.5", SM_PGCRON_1_6_5},
		{"1.6.7", SM_PGCRON_1_6_5}, {"1.6.10", SM_PGCRON_1_6_5},
		{"1.6.99999999999999999999", SM_PGCRON_1_6_5},
	};
	static const char *const unknown[] = {
		"99.99", "2.0", "1.7", "1.10", "0.9", "1.06", "01.6", "1", "1.", "1.x",
		"one", "", "1.6-", "1.6.", "1.6.4.1", "1.6-1-1", "1.6a", " 1.6", "1.6 ",
		"1.6.x", "1.4-", "1.99999999999999999999",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
	{
		SmCronVersion v = 0;

		CHECK(sm_parse_version(known[i].text, &v) && v == known[i].want,
			  "version \"%s\": %d", known[i].text, (int) v);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
	{
		SmCronVersion v;

		CHECK(!sm_parse_version(unknown[i], &v), "version \"%s\" accepted", unknown[i]);
	}
	CHECK(strcmp(sm_version_name(SM_PGCRON_1_6), "pg_cron 1.6") == 0 &&
		  strcmp(sm_version_name(SM_PGCRON_1_6_0), "pg_cron 1.6.0-1.6.4") == 0 &&
		  strcmp(sm_version_name(SM_PGCRON_1_6_5), "pg_cron 1.6.5+") == 0, "version names");
}

static void
test_describe(void)
{
	SmSchedule	s;
	char		buf[512];

	parse("0 9 * * 1-5", SM_PGCRON_1_6, &s);
	sm_describe(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "at 09:00, on Monday through Friday") == 0, "%s", buf);
	parse("*/5 9-17 * * *", SM_PGCRON_1_6, &s);
	sm_describe(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "every 5 minutes, during hours 9-17") == 0, "%s", buf);
	parse("0 */2 * * *", SM_PGCRON_1_6, &s);
	sm_describe(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "at minute 0, every 2 hours") == 0, "%s", buf);
	parse("0 12 $ 2 *", SM_PGCRON_1_6, &s);
	sm_describe(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "at 12:00, on the last day of the month, in February") == 0, "%s", buf);

	/* JSON: the length is reported even when the buffer is too small */
	{
		size_t		need = sm_to_json(&s, buf, 8);

		CHECK(need > 8 && strlen(buf) == 7, "truncated json %zu", need);
		CHECK(sm_to_json(&s, buf, sizeof(buf)) == need && buf[need - 1] == '}', "%s", buf);
	}
}

static void
test_utc(void)
{
	check_next("* * * * *", &sm_utc, ts(2026, 11, 29, 12, 0), ts(2026, 11, 29, 12, 1));
	check_next("* * * * *", &sm_utc, ts(2026, 11, 29, 12, 0) + 30, ts(2026, 11, 29, 12, 1));
	check_prev("* * * * *", &sm_utc, ts(2026, 11, 29, 12, 0) + 30, ts(2026, 11, 29, 12, 0));
	check_prev("* * * * *", &sm_utc, ts(2026, 11, 29, 12, 0), ts(2026, 11, 29, 12, 0));
	check_next("0 */2 * * *", &sm_utc, ts(2026, 1, 1, 1, 0), ts(2026, 1, 1, 2, 0));
	check_next("0 */2 * * *", &sm_utc, ts(2026, 1, 1, 2, 0), ts(2026, 1, 1, 4, 0));
	check_next("0 */2 * * *", &sm_utc, ts(2026, 12, 31, 23, 0), ts(2027, 1, 1, 0, 0));
	/* 2026-11-27 is a Friday, 2026-11-30 a Monday */
	check_next("0 9 * * 1-5", &sm_utc, ts(2026, 11, 27, 10, 0), ts(2026, 11, 30, 9, 0));
	check_prev("0 9 * * 1-5", &sm_utc, ts(2026, 11, 30, 8, 0), ts(2026, 11, 27, 9, 0));
	check_next("*/5 9-17 * * *", &sm_utc, ts(2026, 11, 29, 17, 56), ts(2026, 11, 30, 9, 0));
	check_prev("*/5 9-17 * * *", &sm_utc, ts(2026, 11, 29, 8, 0), ts(2026, 11, 28, 17, 55));
	check_next("0 0 29 2 *", &sm_utc, ts(2026, 3, 1, 0, 0), ts(2028, 2, 29, 0, 0));
	check_prev("0 0 29 2 *", &sm_utc, ts(2026, 3, 1, 0, 0), ts(2024, 2, 29, 0, 0));
	check_next("0 0 29 2 *", &sm_utc, ts(2096, 3, 1, 0, 0), ts(2104, 2, 29, 0, 0));
	check_next("0 12 $ 2 *", &sm_utc, ts(2026, 1, 1, 0, 0), ts(2026, 2, 28, 12, 0));
	check_next("0 12 $ 2 *", &sm_utc, ts(2027, 3, 1, 0, 0), ts(2028, 2, 29, 12, 0));
	check_prev("0 12 $ 2 *", &sm_utc, ts(2028, 2, 29, 11, 0), ts(2027, 2, 28, 12, 0));
	check_next("0 0 $ * *", &sm_utc, ts(2026, 4, 29, 12, 0), ts(2026, 4, 30, 0, 0));
	check_next("0 0 1 * 1", &sm_utc, ts(2026, 11, 29, 0, 0), ts(2026, 11, 30, 0, 0));
	check_next("0 0 1 * 1", &sm_utc, ts(2026, 11, 30, 0, 0), ts(2026, 12, 1, 0, 0));
	check_next("0 0 */2 * 1", &sm_utc, ts(2026, 11, 29, 0, 0), ts(2026, 12, 7, 0, 0));
	check_next("@weekly", &sm_utc, ts(2026, 11, 29, 0, 0), ts(2026, 12, 6, 0, 0));
	check_next("@monthly", &sm_utc, ts(2026, 11, 29, 0, 0), ts(2026, 12, 1, 0, 0));

	{
		SmSchedule	s;
		int64_t		t;

		parse("@yearly", SM_PGCRON_1_4, &s);
		CHECK(sm_next(&s, ts(2026, 6, 1, 0, 0), &sm_utc, &t) == SM_FOUND &&
			  t == ts(2027, 1, 1, 0, 0), "@yearly in 1.4");
		parse("@yearly", SM_PGCRON_1_6, &s);
		CHECK(sm_next(&s, ts(2026, 6, 1, 0, 0), &sm_utc, &t) == SM_NEVER, "@yearly in 1.6");
		parse("0 0 30 2 *", SM_PGCRON_1_6, &s);
		CHECK(sm_prev(&s, ts(2026, 6, 1, 0, 0), &sm_utc, &t) == SM_NEVER, "Feb 30");
		parse("30 seconds", SM_PGCRON_1_6, &s);
		CHECK(sm_next(&s, 0, &sm_utc, &t) == SM_NOT_CLOCK, "interval");
	}
}

static void
test_dst(void)
{
	use_zone("Europe/Berlin");
	/* 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist */
	check_next("30 2 * * *", &zone, ts(2026, 3, 28, 2, 0), ts(2026, 3, 30, 0, 30));
	check_prev("30 2 * * *", &zone, ts(2026, 3, 30, 0, 0), ts(2026, 3, 28, 1, 30));
	/* 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice */
	check_next("30 2 * * *", &zone, ts(2026, 10, 25, 0, 0), ts(2026, 10, 25, 0, 30));
	check_next("30 2 * * *", &zone, ts(2026, 10, 25, 0, 30), ts(2026, 10, 25, 1, 30));
	check_prev("30 2 * * *", &zone, ts(2026, 10, 25, 1, 0), ts(2026, 10, 25, 0, 30));
	/* the last fire before a change, seen from after it */
	check_prev("59 1 * * *", &zone, ts(2026, 3, 29, 1, 30), ts(2026, 3, 29, 0, 59));
	check_next("0 9 * * *", &zone, ts(2026, 3, 29, 0, 0), ts(2026, 3, 29, 7, 0));
	check_next("0 9 * * *", &zone, ts(2026, 3, 28, 9, 0), ts(2026, 3, 29, 7, 0));
	/*
	 * 2024-03-31 (the last day of March) is 23 hours long: on March 30 at
	 * 23:00 CET, 24 hours later is already April 1, so pg_cron's "$" fires.
	 */
	check_next("0 23 $ 3 *", &zone, ts(2024, 3, 1, 0, 0), ts(2024, 3, 30, 22, 0));
	check_next("0 23 $ 3 *", &zone, ts(2024, 3, 30, 22, 0), ts(2024, 3, 31, 21, 0));
	check_prev("0 23 $ 3 *", &zone, ts(2024, 3, 31, 20, 0), ts(2024, 3, 30, 22, 0));

	use_zone("America/New_York");
	/* 2026-11-01 is 25 hours long: its first hour is also "$" */
	check_next("30 0 $ * *", &zone, ts(2026, 10, 30, 12, 0), ts(2026, 10, 31, 4, 30));
	check_next("30 0 $ * *", &zone, ts(2026, 10, 31, 4, 30), ts(2026, 11, 1, 4, 30));
	check_next("30 0 $ * *", &zone, ts(2026, 11, 1, 4, 30), ts(2026, 12, 1, 5, 30) - 86400);
	use_zone("UTC");
}

/* ---- steps larger than the field's maximum ---- */

/*
 * pg_cron 1.6.5 rejects a step above the field's maximum (num3 > high in
 * get_range, every field); 1.4 to 1.6.4 accept it and take the range's
 * first value.  "1.6" cannot tell them apart: accepted, with a warning.
 */
static void
test_big_steps(void)
{
	static const struct
	{
		const char *text;
		const char *says;
	}			big[] = {
		{"*/100 * * * *", "step 100 is larger than the minute field's maximum 59: "
		"pg_cron 1.6.0-1.6.4 take minute 0 only, 1.6.5 and later reject the schedule"},
		{"*/60 * * * *", "minute field's maximum 59: pg_cron 1.6.0-1.6.4 take minute 0 only"},
		{"5-10/60 * * * *", "take minute 5 only"},
		{"0 */24 * * *", "hour field's maximum 23: pg_cron 1.6.0-1.6.4 take hour 0 only"},
		{"0 0 */32 * *", "day-of-month field's maximum 31: pg_cron 1.6.0-1.6.4 take day 1 only"},
		{"0 0 1 */13 *", "month field's maximum 12: pg_cron 1.6.0-1.6.4 take January only"},
		{"0 0 * * */8", "day-of-week field's maximum 7: pg_cron 1.6.0-1.6.4 take Sunday only"},
		{"0 0 * * mon-fri/8", "take Monday only"},
		{"0 0 * * 1-5/4294967295", "step -1 must be positive"},
		{"0 0 * * 1-5/4294967304", "step 8 is larger than the day-of-week field's maximum 7"},
	};
	static const char *const fine[] = {
		"*/59 * * * *", "0 */23 * * *", "0 0 */31 * *", "0 0 1 */12 *",
		"0 0 * * */7", "1-5/30 * * * *", "0 0 1-3/20 * *",
	};
	SmSchedule	s;
	char		err[256];

	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
	{
		const char *text = big[i].text;
		bool		rejected = strstr(big[i].says, "must be positive") != NULL;

		if (rejected)
		{
			CHECK(!sm_parse(text, strlen(text), SM_PGCRON_1_6, &s, err, sizeof(err)) &&
				  strstr(err, big[i].says), "\"%s\": %s", text, err);
			continue;
		}
		CHECK(parse(text, SM_PGCRON_1_6, &s) && s.nwarnings == 1 &&
			  strstr(s.warnings[0], big[i].says) &&
			  strstr(s.warnings[0], "1.6.5 and later reject the schedule"),
			  "\"%s\" in 1.6: %d warnings: %s", text, s.nwarnings, s.warnings[0]);
		/* 1.4 and 1.5 take the first value too: said, with what 1.6.5 does */
		CHECK(parse(text, SM_PGCRON_1_4, &s) && s.nwarnings == 1 &&
			  strstr(s.warnings[0], "pg_cron takes") &&
			  strstr(s.warnings[0], "1.6.5 and later reject"),
			  "\"%s\" in 1.4: %d warnings: %s", text, s.nwarnings, s.warnings[0]);
	}
	CHECK(parse("5-10/60 * * * *", SM_PGCRON_1_6, &s) && s.minute == 1ull << 5, "5-10/60");
	CHECK(parse("0 0 * * */8", SM_PGCRON_1_6, &s) && s.dow == 1, "*/8 is Sunday");
	CHECK(parse("0 0 * * mon-fri/8", SM_PGCRON_1_6, &s) && s.dow == 2, "mon-fri/8 is Monday");
	CHECK(parse("0 0 1 */13 *", SM_PGCRON_1_6, &s) && s.month == 2, "*/13 is January");
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		CHECK(parse(fine[i], SM_PGCRON_1_6, &s) && s.nwarnings == 0,
			  "\"%s\": %d warnings: %s", fine[i], s.nwarnings, s.warnings[0]);

	/*
	 * A release named in full is followed exactly: 1.6.5 and later reject,
	 * 1.6.0 to 1.6.4 take the first value (said, with what 1.6.5 does).
	 */
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
	{
		const char *text = big[i].text;

		CHECK(!sm_parse(text, strlen(text), SM_PGCRON_1_6_5, &s, err, sizeof(err)) &&
			  (strstr(err, "must be positive") ||
			   strstr(err, "1.6.5 and later reject it")),
			  "\"%s\" in 1.6.5: %s", text, err);
		if (strstr(big[i].says, "must be positive"))
			continue;
		CHECK(parse(text, SM_PGCRON_1_6_0, &s) && s.nwarnings == 1 &&
			  strstr(s.warnings[0], "pg_cron takes") &&
			  strstr(s.warnings[0], "(1.6.5 and later reject the schedule)"),
			  "\"%s\" in 1.6.0: %d warnings: %s", text, s.nwarnings, s.warnings[0]);
	}
	CHECK(!sm_parse("*/100 * * * *", 13, SM_PGCRON_1_6_5, &s, err, sizeof(err)) &&
		  strcmp(err, "minute field: step 100 is larger than the field's maximum 59 (pg_cron 1.6.5 and later reject it)") == 0,
		  "*/100 in 1.6.5: %s", err);
	CHECK(parse("*/100 * * * *", SM_PGCRON_1_6_0, &s) && s.minute == 1 && s.can_fire,
		  "*/100 in 1.6.0 is minute 0");
	CHECK(parse("0 0 * * */8", SM_PGCRON_1_6_0, &s) && s.dow == 1, "*/8 in 1.6.0 is Sunday");
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		CHECK(parse(fine[i], SM_PGCRON_1_6_5, &s) && s.nwarnings == 0,
			  "\"%s\" in 1.6.5: %d warnings", fine[i], s.nwarnings);
}

/* ---- reversed ranges ---- */

/*
 * The first n fire times (UTC) of sched after 'after' are want[0..n-1]; with
 * n == 0 it never fires.
 */
static void
check_fires(const char *sched, SmCronVersion v, int64_t after,
			const int64_t *want, int n)
{
	SmSchedule	s;
	int64_t		t = after;
	char		a[40],
				b[40];

	if (!parse(sched, v, &s))
	{
		CHECK(false, "\"%s\" (%s) did not parse", sched, sm_version_name(v));
		return;
	}
	if (n == 0)
	{
		CHECK(!s.can_fire && sm_next(&s, after, &sm_utc, &t) == SM_NEVER,
			  "\"%s\" (%s) fires", sched, sm_version_name(v));
		return;
	}
	CHECK(s.can_fire, "\"%s\" (%s) cannot fire: %s", sched, sm_version_name(v), s.never_reason);
	for (int i = 0; i < n; i++)
	{
		int64_t		got = 0;

		if (sm_next(&s, t, &sm_utc, &got) != SM_FOUND || got != want[i])
		{
			CHECK(false, "\"%s\" (%s) fire %d: %s, want %s", sched, sm_version_name(v), i,
				  (fmt_ts(got, a), a), (fmt_ts(want[i], b), b));
			return;
		}
		t = got;
	}
}

#define FIRES(sched, v, after, ...) \
	do { \
		const int64_t want_[] = {__VA_ARGS__}; \
		check_fires(sched, v, after, want_, (int) (sizeof(want_) / sizeof(want_[0]))); \
	} while (0)
#define NEVER(sched, v) check_fires(sched, v, ts(2026, 11, 30, 0, 0), NULL, 0)

/*
 * pg_cron 1.6 (entry.c's set_range and bitstring.h's bit_nset, the same in
 * 1.6.0 to 1.6.7) sets a reversed range without a step by bytes of 8 values
 * counted from the field's lowest value: from the first value to the end of
 * its byte, and from the start of the last value's byte to the last value;
 * nothing when both lie in one byte or with a step above 1.  1.4 and 1.5 (a
 * plain loop up from the first value) select nothing.
 */
static void
test_reversed_ranges(void)
{
	static const SmCronVersion v16[] = {SM_PGCRON_1_6, SM_PGCRON_1_6_0, SM_PGCRON_1_6_5};
	static const SmCronVersion v14[] = {SM_PGCRON_1_4, SM_PGCRON_1_5};
	int64_t		nov30 = ts(2026, 11, 30, 0, 0);
	SmSchedule	s;
	char		err[256];

	for (size_t i = 0; i < sizeof(v16) / sizeof(v16[0]); i++)
	{
		SmCronVersion v = v16[i];

		/* minute: 50-55 (block 48-55) and 0-3 (block 0-7), as seen live */
		FIRES("50-3 * * * *", v, ts(2026, 11, 30, 9, 49),
			  ts(2026, 11, 30, 9, 50), ts(2026, 11, 30, 9, 51), ts(2026, 11, 30, 9, 52),
			  ts(2026, 11, 30, 9, 53), ts(2026, 11, 30, 9, 54), ts(2026, 11, 30, 9, 55),
			  ts(2026, 11, 30, 10, 0), ts(2026, 11, 30, 10, 1), ts(2026, 11, 30, 10, 2),
			  ts(2026, 11, 30, 10, 3), ts(2026, 11, 30, 10, 50));
		FIRES("50-3/1 * * * *", v, ts(2026, 11, 30, 9, 55),
			  ts(2026, 11, 30, 10, 0), ts(2026, 11, 30, 10, 1), ts(2026, 11, 30, 10, 2),
			  ts(2026, 11, 30, 10, 3), ts(2026, 11, 30, 10, 50));
		/* block 56-63 ends past 59: 58, 59 */
		FIRES("58-3 * * * *", v, ts(2026, 11, 30, 9, 57),
			  ts(2026, 11, 30, 9, 58), ts(2026, 11, 30, 9, 59), ts(2026, 11, 30, 10, 0),
			  ts(2026, 11, 30, 10, 1), ts(2026, 11, 30, 10, 2), ts(2026, 11, 30, 10, 3),
			  ts(2026, 11, 30, 10, 58));
		/* in a list, with other values */
		FIRES("10,50-3,30 * * * *", v, ts(2026, 11, 30, 9, 56),
			  ts(2026, 11, 30, 10, 0), ts(2026, 11, 30, 10, 1), ts(2026, 11, 30, 10, 2),
			  ts(2026, 11, 30, 10, 3), ts(2026, 11, 30, 10, 10), ts(2026, 11, 30, 10, 30),
			  ts(2026, 11, 30, 10, 50));
		/* both ends in one block (0-7): nothing; a step above 1: nothing */
		NEVER("5-1 * * * *", v);
		NEVER("50-3/2 * * * *", v);
		NEVER("15-8 * * * *", v);

		/* hour: 22-23 (block 16-23) and 0-2 */
		FIRES("0 22-2 * * *", v, ts(2026, 11, 30, 12, 0),
			  ts(2026, 11, 30, 22, 0), ts(2026, 11, 30, 23, 0), ts(2026, 12, 1, 0, 0),
			  ts(2026, 12, 1, 1, 0), ts(2026, 12, 1, 2, 0), ts(2026, 12, 1, 22, 0));
		/* 20-23 and 8-9 (block 8-15) */
		FIRES("0 20-9 * * *", v, ts(2026, 11, 30, 12, 0),
			  ts(2026, 11, 30, 20, 0), ts(2026, 11, 30, 21, 0), ts(2026, 11, 30, 22, 0),
			  ts(2026, 11, 30, 23, 0), ts(2026, 12, 1, 8, 0), ts(2026, 12, 1, 9, 0),
			  ts(2026, 12, 1, 20, 0));
		NEVER("0 10-9 * * *", v);
		NEVER("0 22-2/3 * * *", v);

		/* day of month: blocks count from day 1 (1-8, ..., 25-32) */
		FIRES("0 0 31-2 * *", v, nov30,
			  ts(2026, 12, 1, 0, 0), ts(2026, 12, 2, 0, 0), ts(2026, 12, 31, 0, 0),
			  ts(2027, 1, 1, 0, 0), ts(2027, 1, 2, 0, 0), ts(2027, 1, 31, 0, 0),
			  ts(2027, 2, 1, 0, 0), ts(2027, 2, 2, 0, 0), ts(2027, 3, 1, 0, 0));
		FIRES("0 0 20-5 * *", v, nov30,
			  ts(2026, 12, 1, 0, 0), ts(2026, 12, 2, 0, 0), ts(2026, 12, 3, 0, 0),
			  ts(2026, 12, 4, 0, 0), ts(2026, 12, 5, 0, 0), ts(2026, 12, 20, 0, 0),
			  ts(2026, 12, 21, 0, 0), ts(2026, 12, 22, 0, 0), ts(2026, 12, 23, 0, 0),
			  ts(2026, 12, 24, 0, 0), ts(2027, 1, 1, 0, 0));
		NEVER("0 0 8-1 * *", v);

		/* month: blocks 1-8 and 9-16 */
		FIRES("0 0 1 12-2 *", v, nov30,
			  ts(2026, 12, 1, 0, 0), ts(2027, 1, 1, 0, 0), ts(2027, 2, 1, 0, 0),
			  ts(2027, 12, 1, 0, 0));
		FIRES("0 0 1 dec-feb *", v, nov30,
			  ts(2026, 12, 1, 0, 0), ts(2027, 1, 1, 0, 0), ts(2027, 2, 1, 0, 0),
			  ts(2027, 12, 1, 0, 0));
		CHECK(parse("0 0 1 9-8 *", v, &s) && s.month == 0x1ffe, "9-8 is every month: %x", s.month);
		NEVER("0 0 1 8-7 *", v);

		/* day of week: one block (0-7), so never anything */
		NEVER("0 0 * * sat-mon", v);
		NEVER("0 0 * * 7-1", v);
		CHECK(parse("0 0 * * fri-tue", v, &s) && s.dow == 0 && s.nwarnings == 1,
			  "fri-tue: %x", s.dow);
		/* both days restricted: the empty weekday leaves the 1st */
		FIRES("0 0 1 * 5-1", v, nov30, ts(2026, 12, 1, 0, 0), ts(2027, 1, 1, 0, 0));

		/* the warning says what each version does */
		CHECK(parse("50-3 * * * *", v, &s) && s.nwarnings == 1 &&
			  strcmp(s.warnings[0], "the range \"50-3\" runs backwards (50-3): pg_cron 1.6 selects 50-55 and 0-3, 1.4 and 1.5 nothing") == 0,
			  "50-3 warning: %s", s.warnings[0]);
		CHECK(parse("0 0 31-2 * *", v, &s) &&
			  strstr(s.warnings[0], "pg_cron 1.6 selects 31 and 1-2,"), "31-2: %s", s.warnings[0]);
		CHECK(parse("0 0 1 dec-feb *", v, &s) &&
			  strstr(s.warnings[0], "\"dec-feb\" runs backwards (12-2): pg_cron 1.6 selects 12 and 1-2,"),
			  "dec-feb: %s", s.warnings[0]);
		CHECK(parse("50-3/2 * * * *", v, &s) && s.nwarnings == 1 &&
			  strcmp(s.warnings[0], "the range \"50-3/2\" runs backwards (50-3) and selects nothing") == 0,
			  "50-3/2: %s", s.warnings[0]);
	}

	for (size_t i = 0; i < sizeof(v14) / sizeof(v14[0]); i++)
	{
		SmCronVersion v = v14[i];

		NEVER("50-3 * * * *", v);
		NEVER("0 22-2 * * *", v);
		NEVER("0 0 31-2 * *", v);
		NEVER("0 0 1 12-2 *", v);
		NEVER("0 0 1 9-8 *", v);
		NEVER("0 0 * * sat-mon", v);
		FIRES("10,50-3,30 * * * *", v, ts(2026, 11, 30, 9, 56),
			  ts(2026, 11, 30, 10, 10), ts(2026, 11, 30, 10, 30), ts(2026, 11, 30, 11, 10));
		CHECK(parse("50-3 * * * *", v, &s) && s.nwarnings == 1 &&
			  strcmp(s.warnings[0], "the range \"50-3\" runs backwards (50-3): pg_cron 1.4 and 1.5 select nothing (1.6 selects 50-55 and 0-3)") == 0,
			  "50-3 warning: %s", s.warnings[0]);
	}

	/* a reversed range with a too large step: nothing, or rejected in 1.6.5+ */
	NEVER("50-3/100 * * * *", SM_PGCRON_1_6);
	NEVER("50-3/100 * * * *", SM_PGCRON_1_6_0);
	NEVER("50-3/100 * * * *", SM_PGCRON_1_4);
	CHECK(parse("50-3/100 * * * *", SM_PGCRON_1_6, &s) && s.nwarnings == 2 &&
		  strcmp(s.warnings[0], "step 100 is larger than the minute field's maximum 59: pg_cron 1.6.5 and later reject the schedule") == 0,
		  "50-3/100: %s", s.warnings[0]);
	CHECK(!sm_parse("50-3/100 * * * *", 16, SM_PGCRON_1_6_5, &s, err, sizeof(err)),
		  "50-3/100 accepted by 1.6.5");

	/* the quote is the range alone, cut when long; the message stays whole */
	CHECK(parse("1,00000000000000050-3,7 * * * *", SM_PGCRON_1_6, &s) && s.nwarnings == 1 &&
		  strcmp(s.warnings[0], "the range \"000000000000...\" runs backwards (50-3): pg_cron 1.6 selects 50-55 and 0-3, 1.4 and 1.5 nothing") == 0,
		  "long range: %s", s.warnings[0]);
	CHECK(parse("0 0 1 12-2 *", SM_PGCRON_1_6, &s) && s.month == ((1u << 12) | (1u << 1) | (1u << 2)),
		  "12-2 months: %x", s.month);
	CHECK(parse("0 0 31-2 * *", SM_PGCRON_1_6, &s) && s.dom == ((1u << 31) | (1u << 1) | (1u << 2)),
		  "31-2 days: %x", s.dom);
	CHECK(parse("58-3 * * * *", SM_PGCRON_1_6, &s) && s.minute == ((3ull << 58) | 0xf),
		  "58-3 minutes: %llx", (unsigned long long) s.minute);

	/*
	 * Every reversed range of every field, against a model of pg_cron 1.6's
	 * byte-wise fill: a byte array, where the start's byte is filled from the
	 * start bit up, the bytes strictly between (none, for a reversed range)
	 * whole, and the end's byte up to the end bit; one byte holding both
	 * ends gets only the bits between them.
	 */
	for (int field = 0; field < 5; field++)
	{
		static const int lows[] = {0, 0, 1, 1, 0};
		static const int highs[] = {59, 23, 31, 12, 7};
		int			low = lows[field],
					high = highs[field];

		for (int a = low; a <= high; a++)
			for (int b = low; b < a; b++)
			{
				unsigned char bytes[8] = {0};
				int			start = a - low,
							stop = b - low;
				uint64_t	want = 0,
							got;
				char		text[64];
				const char *f[5] = {"0", "0", "1", "1", "*"};
				char		range[24];

				if (start / 8 == stop / 8)
				{
					for (int bit = start; bit <= stop; bit++)
						bytes[start / 8] |= (unsigned char) (1 << (bit % 8));
				}
				else
				{
					for (int bit = start % 8; bit < 8; bit++)
						bytes[start / 8] |= (unsigned char) (1 << bit);
					for (int i = start / 8 + 1; i < stop / 8; i++)
						bytes[i] = 0xff;
					for (int bit = 0; bit <= stop % 8; bit++)
						bytes[stop / 8] |= (unsigned char) (1 << bit);
				}
				for (int v = low; v <= high; v++)
					if (bytes[(v - low) / 8] & (1 << ((v - low) % 8)))
						want |= (uint64_t) 1 << (field == 4 && v == 7 ? 0 : v);

				snprintf(range, sizeof(range), "%d-%d", a, b);
				f[field] = range;
				snprintf(text, sizeof(text), "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
				if (!parse(text, SM_PGCRON_1_6_5, &s))
				{
					CHECK(false, "\"%s\" rejected", text);
					continue;
				}
				got = field == 0 ? s.minute : field == 1 ? s.hour : field == 2 ? s.dom :
					field == 3 ? s.month : s.dow;
				CHECK(got == want && s.nwarnings == 1, "\"%s\": %llx, want %llx", text,
					  (unsigned long long) got, (unsigned long long) want);
				/* 1.4 and 1.5: nothing */
				CHECK(parse(text, SM_PGCRON_1_5, &s) &&
					  (field == 0 ? s.minute : field == 1 ? s.hour : field == 2 ? s.dom :
					   field == 3 ? s.month : s.dow) == 0, "\"%s\" in 1.5", text);
			}
	}
}

/* ---- what the input's bytes look like in warnings, errors and JSON ---- */

/* The schedule's JSON, checked to be one valid JSON value in UTF-8. */
static void
check_json(const SmSchedule *s, const char *what)
{
	char		json[8192];
	size_t		need = sm_to_json(s, json, sizeof(json));

	CHECK(need < sizeof(json) && json_valid(json), "%s: invalid JSON: %s", what, json);
}

/* The first warning of text (in 1.6) equals want; its JSON is valid. */
static void
check_warning(const char *text, size_t len, const char *want)
{
	SmSchedule	s;
	char		err[256];

	if (!sm_parse(text, len, SM_PGCRON_1_6, &s, err, sizeof(err)))
	{
		CHECK(false, "\"%s\" rejected: %s", text, err);
		return;
	}
	CHECK(s.nwarnings >= 1 && strcmp(s.warnings[0], want) == 0,
		  "warning of \"%s\": [%s], want [%s]", text, s.warnings[0], want);
	check_json(&s, text);
}

static void
test_quoting(void)
{
	SmSchedule	s;
	char		err[256];
	char		text[400];

	check_warning("5\xc3\xa9 * * * *", 11,
				  "pg_cron ignores \"\xc3\xa9\" at the end of the minute field");
	check_warning("5%\xe2\x82\xac * * * *", 13,
				  "pg_cron ignores \"%\xe2\x82\xac\" at the end of the minute field");
	check_warning("5\xf0\x9f\x98\x80x * * * *", 14,
				  "pg_cron ignores \"\xf0\x9f\x98\x80x\" at the end of the minute field");
	/* bytes that are no UTF-8 character, and control characters */
	check_warning("5\xff * * * *", 10, "pg_cron ignores \"\\xff\" at the end of the minute field");
	check_warning("5\xc3 * * * *", 10, "pg_cron ignores \"\\xc3\" at the end of the minute field");
	check_warning("5\xe2\x82 * * * *", 11,
				  "pg_cron ignores \"\\xe2\\x82\" at the end of the minute field");
	check_warning("5\xc0\xaf * * * *", 11,
				  "pg_cron ignores \"\\xc0\\xaf\" at the end of the minute field");
	check_warning("5\xed\xa0\x80 * * * *", 12,
				  "pg_cron ignores \"\\xed\\xa0\\x80\" at the end of the minute field");
	check_warning("5\x01\r\"\\ * * * *", 13,
				  "pg_cron ignores \"\\x01\\x0d\"\\\" at the end of the minute field");
	check_warning("* * * * * \xc3\xa9t\xc3\xa9", 15,
				  "pg_cron ignores \"\xc3\xa9t\xc3\xa9\" and anything after the fifth field");
	check_warning("@daily \xe2\x82\xac", 10, "pg_cron ignores \"\xe2\x82\xac\" after the shortcut");

	/* the JSON shows characters as they are, any other byte as \xNN */
	{
		char		json[8192];

		parse("5\xc3\xa9 * * * *", SM_PGCRON_1_6, &s);
		sm_to_json(&s, json, sizeof(json));
		CHECK(strstr(json, "\"pg_cron ignores \\\"\xc3\xa9\\\" at the end") != NULL, "%s", json);
		parse("5\xff\" * * * *", SM_PGCRON_1_6, &s);
		sm_to_json(&s, json, sizeof(json));
		CHECK(strstr(json, "\"pg_cron ignores \\\"\\\\xff\\\"\\\" at the end") != NULL, "%s", json);
		/* should a raw byte ever reach a message, the JSON stays valid */
		strcpy(s.warnings[0], "a\xff\xc3\xa9\xc3\x01\x7f\xed\xa0\x80z");
		sm_to_json(&s, json, sizeof(json));
		CHECK(json_valid(json) &&
			  strstr(json, "\"a\\\\xff\xc3\xa9\\\\xc3\\u0001\\u007f\\\\xed\\\\xa0\\\\x80z\"") != NULL,
			  "%s", json);
	}

	/* a long run is cut between characters, and the cut is marked */
	strcpy(text, "5");
	for (int i = 0; i < 30; i++)
		strcat(text, "\xc3\xa9");
	strcat(text, " * * * *");
	CHECK(parse(text, SM_PGCRON_1_6, &s) && s.nwarnings == 1 &&
		  strstr(s.warnings[0], "\xc3\xa9\xc3\xa9...\"") && jc_valid_utf8(s.warnings[0]),
		  "long junk: %s", s.warnings[0]);
	check_json(&s, "long junk");
	strcpy(text, "5");
	for (int i = 0; i < 30; i++)
		strcat(text, "\xff");
	strcat(text, " * * * *");
	CHECK(parse(text, SM_PGCRON_1_6, &s) && s.nwarnings == 1 &&
		  strstr(s.warnings[0], "\\xff\\xff...\"") && jc_valid_utf8(s.warnings[0]),
		  "long invalid junk: %s", s.warnings[0]);
	check_json(&s, "long invalid junk");

	/* errors quote the input the same way */
	CHECK(!sm_parse("@daily\xc3\xa9", 8, SM_PGCRON_1_6, &s, err, sizeof(err)) &&
		  strstr(err, "\"@daily\xc3\xa9\"") != NULL, "%s", err);
	CHECK(!sm_parse("@\xff\xfe", 3, SM_PGCRON_1_6, &s, err, sizeof(err)) &&
		  strstr(err, "\"@\\xff\\xfe\"") != NULL, "%s", err);
	CHECK(!sm_parse("\xc3\xa9 * * * *", 10, SM_PGCRON_1_6, &s, err, sizeof(err)) &&
		  strstr(err, "unexpected \"\xc3\xa9\"") != NULL, "%s", err);
	CHECK(!sm_parse("1/\xff * * * *", 10, SM_PGCRON_1_6, &s, err, sizeof(err)) &&
		  jc_valid_utf8(err), "%s", err);

	/* any bytes: warnings and errors stay valid UTF-8, the JSON valid */
	for (int round = 0; round < 20000; round++)
	{
		static const char *const parts[] = {
			"*", "5", "1-5", "/", ",", " ", "\t", "-", "$", "@", "daily", "\xc3\xa9",
			"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xe2\x82", "\"", "\\",
			"\x01", "mon", "%", "x", "seconds",
		};
		size_t		len = 0;
		int			n = 1 + (int) rnd(24);

		for (int i = 0; i < n; i++)
		{
			const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];

			memcpy(text + len, p, strlen(p));
			len += strlen(p);
		}
		text[len] = '\0';
		for (int v = SM_PGCRON_1_4; v <= SM_PGCRON_1_6_5; v++)
		{
			if (sm_parse(text, len, (SmCronVersion) v, &s, err, sizeof(err)))
			{
				for (int i = 0; i < s.nwarnings; i++)
					CHECK(jc_valid_utf8(s.warnings[i]), "warning of [%s]: %s", text, s.warnings[i]);
				check_json(&s, text);
			}
			else
				CHECK(jc_valid_utf8(err), "error of [%s]: %s", text, err);
		}
	}
}

/* ---- the ends of the clock ---- */

/* A zone 14 hours ahead of UTC, with no changes: offsets at the extremes. */
static bool
far_east_offset_at(void *arg, int64_t t, int32_t *offset, int64_t *next_change)
{
	(void) arg;
	(void) t;
	*offset = 14 * 3600;
	*next_change = INT64_MAX;
	return true;
}

static const SmTimeZone far_east = {far_east_offset_at, NULL};

/*
 * Next and previous fire times near the ends of int64: no overflow (UBSan
 * aborts on one), and an answer only where the search covers the clock.
 */
static void
test_extremes(void)
{
	static const char *const scheds[] = {"* * * * *", "0 0 1 1 *", "0 12 $ 2 *", "0 0 29 2 1"};
	const int64_t at[] = {
		INT64_MAX, INT64_MAX - 1, INT64_MAX - 86400, INT64_MIN, INT64_MIN + 1,
		INT64_MIN + 86400, SM_TIME_LIMIT, SM_TIME_LIMIT - 1, SM_TIME_LIMIT - 60,
		-SM_TIME_LIMIT, -SM_TIME_LIMIT + 1, -SM_TIME_LIMIT - 1, 0,
	};
	const SmTimeZone *zones_[] = {&sm_utc, &far_east};

	for (size_t i = 0; i < sizeof(scheds) / sizeof(scheds[0]); i++)
	{
		SmSchedule	s;

		if (!parse(scheds[i], SM_PGCRON_1_6, &s))
		{
			CHECK(false, "\"%s\" did not parse", scheds[i]);
			continue;
		}
		for (size_t z = 0; z < 2; z++)
			for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++)
			{
				int64_t		t = 0;
				SmSearch	r = sm_next(&s, at[k], zones_[z], &t);

				CHECK(r == SM_NEVER ||
					  (r == SM_FOUND && t > at[k] && t < SM_TIME_LIMIT &&
					   sm_fires_at(&s, t, zones_[z])),
					  "next(\"%s\", %lld): %d %lld", scheds[i], (long long) at[k], r, (long long) t);
				CHECK(at[k] <= -SM_TIME_LIMIT || at[k] >= SM_TIME_LIMIT - 60 || r == SM_FOUND,
					  "next(\"%s\", %lld) not found", scheds[i], (long long) at[k]);
				r = sm_prev(&s, at[k], zones_[z], &t);
				CHECK(r == SM_NEVER ||
					  (r == SM_FOUND && t <= at[k] && t > -SM_TIME_LIMIT &&
					   sm_fires_at(&s, t, zones_[z])),
					  "prev(\"%s\", %lld): %d %lld", scheds[i], (long long) at[k], r, (long long) t);
				CHECK(at[k] <= -SM_TIME_LIMIT + 86400LL * 366 * 5 || at[k] >= SM_TIME_LIMIT ||
					  r == SM_FOUND,
					  "prev(\"%s\", %lld) not found", scheds[i], (long long) at[k]);
				t = at[k] / 60 * 60;
				CHECK(!sm_fires_at(&s, t, zones_[z]) ||
					  (t > -SM_TIME_LIMIT && t < SM_TIME_LIMIT),
					  "fires_at(%lld)", (long long) t);
			}
	}

	/* the end of PostgreSQL's range is well inside: 294277-01-01 is found */
	{
		SmSchedule	s;
		int64_t		t;

		parse("0 0 1 1 *", SM_PGCRON_1_6, &s);
		CHECK(sm_next(&s, ts(294276, 6, 1, 0, 0), &sm_utc, &t) == SM_FOUND &&
			  t == ts(294277, 1, 1, 0, 0), "next in 294276");
		CHECK(sm_prev(&s, ts(-4713, 11, 24, 0, 0), &sm_utc, &t) == SM_FOUND &&
			  t == ts(-4713, 1, 1, 0, 0), "prev in 4714 BC");
	}
}

/* ---- property test: the engine against minute-by-minute evaluation ---- */

static const char *const zones[] = {
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
	"Asia/Kathmandu", "America/Sao_Paulo", "Pacific/Chatham"
};

static void
random_field(char *buf, int low, int high)
{
	int			a = low + (int) rnd((unsigned) (high - low + 1));
	int			b = low + (int) rnd((unsigned) (high - low + 1));

	if (a > b)
	{
		int			t = a;

		a = b;
		b = t;
	}
	switch (rnd(8))
	{
		case 0:
		case 1:
			strcpy(buf, "*");
			break;
		case 2:
			sprintf(buf, "*/%d", 1 + (int) rnd(12));
			break;
		case 3:
			sprintf(buf, "%d", a);
			break;
		case 4:
			sprintf(buf, "%d-%d", a, b);
			break;
		case 5:
			sprintf(buf, "%d-%d/%d", a, b, 1 + (int) rnd(5));
			break;
		case 6:
			sprintf(buf, "%d,%d", a, b);
			break;
		default:
			sprintf(buf, "%d,%d-%d", b, a, b);
			break;
	}
}

static void
random_schedule(char *buf)
{
	char		f[5][32];

	random_field(f[0], 0, 59);
	random_field(f[1], 0, 23);
	random_field(f[2], 1, 31);
	random_field(f[3], 1, 12);
	random_field(f[4], 0, 7);
	if (rnd(8) == 0)
		strcpy(f[2], "$");
	sprintf(buf, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
}

#define WINDOW (3 * 86400)

static void
test_against_brute_force(int rounds)
{
	int			checked = 0;

	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++)
	{
		use_zone(zones[zi]);
		for (int i = 0; i < rounds; i++)
		{
			char		text[200];
			SmSchedule	s;
			int64_t		at,
						got,
						t;
			SmSearch	r;

			random_schedule(text);
			if (!parse(text, SM_PGCRON_1_6, &s) || !s.can_fire)
				continue;
			/* around DST changes of 2024-2027, or anywhere */
			at = ts(2024 + (int) rnd(4), 1 + (int) rnd(12), 1 + (int) rnd(28),
					(int) rnd(24), (int) rnd(60)) + (int64_t) rnd(60);
			memset(&libc_zone, 0, sizeof(libc_zone));

			r = sm_next(&s, at, &zone, &got);
			CHECK(r == SM_FOUND, "next(\"%s\") in %s: %d", text, zones[zi], r);
			if (r == SM_FOUND)
			{
				CHECK(got > at && got % 60 == 0 && sm_fires_at(&s, got, &zone),
					  "next(\"%s\") in %s is no fire time", text, zones[zi]);
				memset(&libc_zone, 0, sizeof(libc_zone));
				for (t = (at / 60 + 1) * 60; t < got && t < at + WINDOW; t += 60)
					if (sm_fires_at(&s, t, &zone))
						break;
				CHECK(t >= got || t >= at + WINDOW,
					  "next(\"%s\") in %s after %lld skipped %lld (got %lld)", text,
					  zones[zi], (long long) at, (long long) t, (long long) got);
			}

			memset(&libc_zone, 0, sizeof(libc_zone));
			r = sm_prev(&s, at, &zone, &got);
			CHECK(r == SM_FOUND, "prev(\"%s\") in %s: %d", text, zones[zi], r);
			if (r == SM_FOUND)
			{
				CHECK(got <= at && got % 60 == 0 && sm_fires_at(&s, got, &zone),
					  "prev(\"%s\") in %s is no fire time", text, zones[zi]);
				memset(&libc_zone, 0, sizeof(libc_zone));
				for (t = got + 60; t <= at && t <= got + WINDOW; t += 60)
					if (sm_fires_at(&s, t, &zone))
						break;
				CHECK(t > at || t > got + WINDOW,
					  "prev(\"%s\") in %s at %lld skipped %lld (got %lld)", text,
					  zones[zi], (long long) at, (long long) t, (long long) got);
			}
			checked++;
		}
	}
	CHECK(checked > rounds, "only %d schedules checked", checked);
	use_zone("UTC");
}

int
main(int argc, char **argv)
{
	int			rounds = argc > 1 ? atoi(argv[1]) : 300;

	use_zone("UTC");
	test_verdicts();
	test_fields();
	test_versions();
	test_big_steps();
	test_reversed_ranges();
	test_quoting();
	test_describe();
	test_utc();
	test_dst();
	test_extremes();
	test_against_brute_force(rounds);
	return unit_finish("schedule");
}
