/*
 * fuzz_schedule.c
 *		libFuzzer target for the schedule module: any bytes through the
 *		parser of every pg_cron version, and what it accepts through the
 *		describer, the JSON writer and next/previous fire times, with the
 *		answers checked (a wrong answer aborts like a crash): the JSON must
 *		be valid in UTF-8 whatever the bytes, and so must every message.
 */
#include "schedule.h"
#include "../unit/json_check.h"

#include <stdlib.h>
#include <string.h>

/*
 * A toy zone with DST: +1h from day 80 to day 300 of every 365-day "year",
 * +5:45 otherwise, so that searches cross offset changes.
 */
static bool
toy_offset_at(void *arg, int64_t t, int32_t *offset, int64_t *next_change)
{
	int64_t		year = 365 * 86400LL;
	int64_t		base = t >= 0 ? t / year * year : -((-t + year - 1) / year) * year;
	int64_t		in = t - base;

	(void) arg;
	if (in < 80 * 86400LL)
	{
		*offset = 20700;
		*next_change = base + 80 * 86400LL;
	}
	else if (in < 300 * 86400LL)
	{
		*offset = 3600;
		*next_change = base + 300 * 86400LL;
	}
	else
	{
		*offset = 20700;
		*next_change = base + year + 80 * 86400LL;
	}
	return true;
}

static const SmTimeZone toy = {toy_offset_at, NULL};

static void
check_times(const SmSchedule *s, const SmTimeZone *tz, int64_t at)
{
	int64_t		t;

	if (sm_next(s, at, tz, &t) == SM_FOUND &&
		(t <= at || t % 60 != 0 || !sm_fires_at(s, t, tz)))
		abort();
	if (sm_prev(s, at, tz, &t) == SM_FOUND &&
		(t > at || t % 60 != 0 || !sm_fires_at(s, t, tz)))
		abort();
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const SmCronVersion versions[] = {
		SM_PGCRON_1_4, SM_PGCRON_1_5, SM_PGCRON_1_6, SM_PGCRON_1_6_0, SM_PGCRON_1_6_5
	};
	char		err[256];
	char		json[8192];
	char		text[512];

	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
	{
		SmSchedule	s;
		size_t		need;

		if (!sm_parse((const char *) data, size, versions[v], &s, err, sizeof(err)))
		{
			if (err[0] == '\0' || strlen(err) >= sizeof(err) || !jc_valid_utf8(err))
				abort();
			continue;
		}
		need = sm_to_json(&s, json, sizeof(json));
		if (need >= sizeof(json) || strlen(json) != need || !json_valid(json))
			abort();
		sm_describe(&s, text, sizeof(text));
		check_times(&s, &sm_utc, 1795000000);
		check_times(&s, &toy, 1795000000 + (int64_t) (size * 86400 * 7));
		/* near the ends of the search's range and of int64: no overflow */
		check_times(&s, &toy, SM_TIME_LIMIT - 1 - (int64_t) size * 3600);
		check_times(&s, &toy, -SM_TIME_LIMIT + 1 + (int64_t) size * 3600);
		check_times(&s, &sm_utc, INT64_MAX - (int64_t) size);
		check_times(&s, &sm_utc, INT64_MIN + (int64_t) size);
	}
	return 0;
}
