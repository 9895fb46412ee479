/*
 * schedule_bench.c
 *		Next and previous fire times for 100,000 mixed schedules, each call
 *		timed on its own; medians and 99th percentiles per schedule shape, in
 *		UTC and in a zone with DST (a transition table searched the way
 *		PostgreSQL's pg_next_dst_boundary searches it).
 */
#define _GNU_SOURCE
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const shapes[] = {
	"* * * * *", "*/5 * * * *", "0 * * * *", "0 */2 * * *", "*/5 9-17 * * *",
	"0 9 * * 1-5", "30 2 * * *", "0 0 1,15 * *", "0 0 1 * 1", "0 0 * * 0",
	"15 3 * * 6,0", "0 0 1 1 *", "0 0 29 2 *", "0 12 $ 2 *", "0 0 $ * *",
	"@hourly", "@daily", "@weekly", "@monthly", "1-30/7 8-18/2 * jan-jun mon-fri",
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

/* ---- a DST zone as a sorted transition table ---- */
static int64_t trans_at[400];
static int32_t trans_off[401];
static int	ntrans;

static int32_t
libc_offset(int64_t t)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	localtime_r(&tt, &tm);
	return (int32_t) tm.tm_gmtoff;
}

static void
build_table(const char *zone)
{
	int64_t		t = 0;				/* 1970 */
	int64_t		end = 4102444800LL;	/* 2100 */
	int32_t		off;

	setenv("TZ", zone, 1);
	tzset();
	off = libc_offset(t);
	trans_off[0] = off;
	while (t < end && ntrans < 400)
	{
		int64_t		hi = t + 6 * 3600;

		if (libc_offset(hi) != off)
		{
			int64_t		lo = t;

			while (hi - lo > 1)
			{
				int64_t		mid = lo + (hi - lo) / 2;

				if (libc_offset(mid) == off)
					lo = mid;
				else
					hi = mid;
			}
			trans_at[ntrans++] = hi;
			off = libc_offset(hi);
			trans_off[ntrans] = off;
		}
		t = hi;
	}
}

static bool
table_offset_at(void *arg, int64_t t, int32_t *offset, int64_t *next_change)
{
	int			lo = 0,
				hi = ntrans;

	(void) arg;
	/* first transition > t */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (trans_at[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	*offset = trans_off[lo];
	*next_change = lo < ntrans ? trans_at[lo] : INT64_MAX;
	return true;
}

static const SmTimeZone table_zone = {table_offset_at, NULL};

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	int			n = argc > 1 ? atoi(argv[1]) : 100000;
	SmSchedule	parsed[NSHAPES];
	double	   *per_shape[2][NSHAPES];
	int			count[NSHAPES] = {0};
	double	   *all[2];
	const SmTimeZone *zones[2] = {&sm_utc, &table_zone};
	const char *zone_names[2] = {"UTC", "Europe/Berlin"};
	uint64_t	rng = 42;
	volatile int64_t sink = 0;

	build_table("Europe/Berlin");
	for (size_t i = 0; i < NSHAPES; i++)
	{
		char		err[200];

		if (!sm_parse(shapes[i], strlen(shapes[i]), SM_PGCRON_1_6, &parsed[i], err, sizeof(err)))
		{
			fprintf(stderr, "%s: %s\n", shapes[i], err);
			return 1;
		}
	}
	for (int z = 0; z < 2; z++)
	{
		for (size_t i = 0; i < NSHAPES; i++)
			per_shape[z][i] = malloc(sizeof(double) * 2 * (size_t) n);
		all[z] = malloc(sizeof(double) * 2 * (size_t) n);
	}

	printf("schedule_bench: %d mixed schedules, next and prev each, one call timed at a time\n", n);
	for (int z = 0; z < 2; z++)
	{
		int			nall = 0;

		memset(count, 0, sizeof(count));
		for (int k = 0; k < n; k++)
		{
			size_t		i;
			int64_t		at,
						r;
			double		t0,
						t1,
						t2;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			i = rng % NSHAPES;
			/* anywhere in 2020-2035 */
			at = 1577836800LL + (int64_t) (rng >> 20) % (15LL * 365 * 86400);

			t0 = now_ns();
			sm_next(&parsed[i], at, zones[z], &r);
			t1 = now_ns();
			sink += r;
			sm_prev(&parsed[i], at, zones[z], &r);
			t2 = now_ns();
			sink += r;
			per_shape[z][i][count[i]++] = t1 - t0;
			per_shape[z][i][count[i]++] = t2 - t1;
			all[z][nall++] = t1 - t0;
			all[z][nall++] = t2 - t1;
		}
		qsort(all[z], (size_t) nall, sizeof(double), cmp_double);
		printf("\n%s: all calls: median %.0f ns, p99 %.0f ns\n", zone_names[z],
			   all[z][nall / 2], all[z][nall * 99 / 100]);
		printf("  %-34s %8s %8s %8s\n", "schedule", "calls", "median", "p99");
		for (size_t i = 0; i < NSHAPES; i++)
		{
			qsort(per_shape[z][i], (size_t) count[i], sizeof(double), cmp_double);
			printf("  %-34s %8d %6.0fns %6.0fns\n", shapes[i], count[i],
				   per_shape[z][i][count[i] / 2], per_shape[z][i][count[i] * 99 / 100]);
		}
	}
	return sink == 42 ? 1 : 0;
}
