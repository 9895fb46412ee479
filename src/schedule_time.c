/*
 * schedule_time.c
 *		When a pg_cron schedule fires: next and previous fire times in any
 *		time zone, without scanning minute by minute.
 *
 * pg_cron's launcher looks at every UTC minute t and runs a job when the
 * wall-clock time of t in cron.timezone matches its schedule; "$" (last day
 * of the month) is true when the wall-clock date of t + 24 hours is the 1st.
 * So the fire times are exactly the UTC minutes whose local time matches: a
 * time skipped by a DST change never fires, a repeated hour fires twice.
 *
 * Between two offset changes of the zone, local time is UTC plus a constant,
 * so the search works on the civil calendar (days and minutes, no zone),
 * segment by segment: find the first civil match in the segment, map it back
 * to UTC, and move to the next segment when the match lies beyond it.  The
 * civil search skips whole months and uses bit scans, so "0 0 29 2 *" costs
 * about as much as "* * * * *".
 *
 * For "$" the local date of t + 24h matters too: in the 24 hours before an
 * offset change it is shifted by the change.  Those hours are segments of
 * their own, with the shift applied to the "$" test only.
 */
#include "schedule.h"

#include <limits.h>

#define MINUTES_PER_DAY 1440
#define SECONDS_PER_DAY 86400
/* Searches give up after 401 years: the calendar repeats every 400. */
#define HORIZON_DAYS ((int64_t) 401 * 366)

/* Whether t lies where searches answer (see SM_TIME_LIMIT). */
#define IN_RANGE(t) ((t) > -SM_TIME_LIMIT && (t) < SM_TIME_LIMIT)

/* A minute interval [lo, hi) within one civil day. */
typedef struct DayRange
{
	int			lo;
	int			hi;
} DayRange;

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm).
 */
int64_t
sm_days_from_civil(int y, int m, int d)
{
	int64_t		yy = (int64_t) y - (m <= 2);
	int64_t		era = floor_div(yy, 400);
	int64_t		yoe = yy - era * 400;
	int64_t		doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void
sm_civil_from_days(int64_t days, int *y, int *m, int *d)
{
	int64_t		z = days + 719468;
	int64_t		era = floor_div(z, 146097);
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;

	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

int
sm_days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* weekday of a day number, Sunday 0 (1970-01-01 was a Thursday) */
static int
weekday(int64_t days)
{
	return (int) (days - floor_div(days + 4, 7) * 7 + 4);
}

/* lowest set bit >= i, or -1 */
static int
bit_at_or_after(uint64_t bits, int i, int max)
{
	uint64_t	rest;

	if (i > max)
		return -1;
	rest = bits >> i;
	if (rest == 0)
		return -1;
	i += __builtin_ctzll(rest);
	return i <= max ? i : -1;
}

/* highest set bit <= i, or -1 */
static int
bit_at_or_before(uint64_t bits, int i)
{
	uint64_t	rest;

	if (i < 0)
		return -1;
	rest = i >= 63 ? bits : bits & (((uint64_t) 1 << (i + 1)) - 1);
	if (rest == 0)
		return -1;
	return 63 - __builtin_clzll(rest);
}

static bool
and_mode(const SmSchedule *s)
{
	return (s->flags & (SM_DOM_STAR | SM_DOW_STAR)) != 0;
}

static bool
is_last_day(int64_t day)
{
	int			y,
				m,
				d;

	sm_civil_from_days(day + 1, &y, &m, &d);
	return d == 1;
}

/*
 * The minutes of civil day 'day' whose day-level fields match (month,
 * day of month, "$", day of week), as at most two ranges.  shift is how far
 * (in minutes) the local date of t + 24h is moved from the plain next day
 * by an offset change: it only affects "$".
 */
static int
day_ranges(const SmSchedule *s, int64_t day, int month, int mday,
		   int shift, DayRange *ranges)
{
	bool		dow_ok = (s->dow >> weekday(day)) & 1;
	int			n = 0;

	if (!((s->month >> month) & 1))
		return 0;

	if (!(s->flags & SM_DOM_LAST))
	{
		bool		dom_ok = (s->dom >> mday) & 1;

		if (and_mode(s) ? (dom_ok && dow_ok) : (dom_ok || dow_ok))
		{
			ranges[0].lo = 0;
			ranges[0].hi = MINUTES_PER_DAY;
			return 1;
		}
		return 0;
	}

	/* "$" never comes with DOM_STAR; OR with a restricted day of week */
	if (!and_mode(s) && dow_ok)
	{
		ranges[0].lo = 0;
		ranges[0].hi = MINUTES_PER_DAY;
		return 1;
	}
	if (and_mode(s) && !dow_ok)
		return 0;

	/* minute x of this day is "$" when the date of x + shift is a last day */
	if (shift >= 0)
	{
		if (is_last_day(day) && shift < MINUTES_PER_DAY)
		{
			ranges[n].lo = 0;
			ranges[n].hi = MINUTES_PER_DAY - shift;
			n++;
		}
		if (shift > 0 && is_last_day(day + 1))
		{
			ranges[n].lo = MINUTES_PER_DAY - shift;
			ranges[n].hi = MINUTES_PER_DAY;
			n++;
		}
	}
	else
	{
		if (is_last_day(day - 1))
		{
			ranges[n].lo = 0;
			ranges[n].hi = -shift;
			n++;
		}
		if (is_last_day(day))
		{
			ranges[n].lo = -shift;
			ranges[n].hi = MINUTES_PER_DAY;
			n++;
		}
	}
	return n;
}

/*
 * The first minute of the day at or after 'from' (minute of day) inside
 * [lo, hi) whose hour and minute match, or -1.
 */
static int
first_time_in(const SmSchedule *s, int from, int lo, int hi)
{
	int			start = from > lo ? from : lo;
	int			h,
				m;

	if (start >= hi)
		return -1;
	h = bit_at_or_after(s->hour, start / 60, 23);
	if (h < 0)
		return -1;
	if (h == start / 60)
	{
		m = bit_at_or_after(s->minute, start % 60, 59);
		if (m < 0)
		{
			h = bit_at_or_after(s->hour, h + 1, 23);
			if (h < 0)
				return -1;
			m = bit_at_or_after(s->minute, 0, 59);
		}
	}
	else
		m = bit_at_or_after(s->minute, 0, 59);
	if (m < 0 || h * 60 + m >= hi)
		return -1;
	return h * 60 + m;
}

/* The last minute at or before 'from' inside [lo, hi) that matches, or -1. */
static int
last_time_in(const SmSchedule *s, int from, int lo, int hi)
{
	int			end = from < hi - 1 ? from : hi - 1;
	int			h,
				m;

	if (end < lo)
		return -1;
	h = bit_at_or_before(s->hour, end / 60);
	if (h < 0)
		return -1;
	if (h == end / 60)
	{
		m = bit_at_or_before(s->minute, end % 60);
		if (m < 0)
		{
			h = bit_at_or_before(s->hour, h - 1);
			if (h < 0)
				return -1;
			m = bit_at_or_before(s->minute, 59);
		}
	}
	else
		m = bit_at_or_before(s->minute, 59);
	if (m < 0 || h * 60 + m < lo)
		return -1;
	return h * 60 + m;
}

/*
 * The first day >= mday in this month that can match by day of month alone,
 * or -1; when the day of week decides, every day is a candidate.
 */
static int
next_candidate_mday(const SmSchedule *s, int mday, int dim, int shift)
{
	if (!and_mode(s))
		return mday;
	if (s->flags & SM_DOM_LAST)
	{
		/* candidates: the last day; the day before it and the 1st when shifted */
		if (shift < 0 && mday <= 1)
			return 1;
		if (shift > 0 && mday <= dim - 1)
			return dim - 1;
		return mday <= dim ? dim : -1;
	}
	if (s->flags & SM_DOM_STAR)
		return mday;
	return bit_at_or_after(s->dom, mday, dim);
}

static int
prev_candidate_mday(const SmSchedule *s, int mday, int dim, int shift)
{
	if (!and_mode(s))
		return mday;
	if (s->flags & SM_DOM_LAST)
	{
		if (mday >= dim)
			return dim;
		if (shift > 0 && mday >= dim - 1)
			return dim - 1;
		if (shift < 0 && mday >= 1)
			return 1;
		return -1;
	}
	if (s->flags & SM_DOM_STAR)
		return mday;
	{
		int			b = bit_at_or_before(s->dom, mday);

		return b >= 1 ? b : -1;
	}
}

/*
 * The first civil minute >= m0 (minutes since 1970-01-01 local) that
 * matches, searching no further than civil day 'last_day'.
 */
static bool
civil_next(const SmSchedule *s, int64_t m0, int shift, int64_t last_day,
		   int64_t *result)
{
	int64_t		day = floor_div(m0, MINUTES_PER_DAY);
	int			from = (int) (m0 - day * MINUTES_PER_DAY);
	int			y,
				mon,
				mday;

	sm_civil_from_days(day, &y, &mon, &mday);
	while (day <= last_day)
	{
		int			dim = sm_days_in_month(y, mon);
		int			cand;

		if (!((s->month >> mon) & 1))
			cand = -1;
		else
			cand = next_candidate_mday(s, mday, dim, shift);

		if (cand < 0)
		{
			/* on to the first day of the next selected month */
			int			nm = bit_at_or_after(s->month, mon + 1, 12);

			day += dim - mday + 1;
			if (nm < 0)
			{
				nm = bit_at_or_after(s->month, 1, 12);
				if (nm < 0)
					return false;
				day = sm_days_from_civil(y + 1, nm, 1);
				y++;
			}
			else
				day = sm_days_from_civil(y, nm, 1);
			mon = nm;
			mday = 1;
			from = 0;
			continue;
		}
		if (cand > mday)
		{
			day += cand - mday;
			mday = cand;
			from = 0;
		}

		{
			DayRange	ranges[2];
			int			n = day_ranges(s, day, mon, mday, shift, ranges);

			for (int i = 0; i < n; i++)
			{
				int			t = first_time_in(s, from, ranges[i].lo, ranges[i].hi);

				if (t >= 0)
				{
					*result = day * MINUTES_PER_DAY + t;
					return true;
				}
			}
		}

		/* next day */
		day++;
		from = 0;
		if (mday < dim)
			mday++;
		else
		{
			mday = 1;
			if (++mon > 12)
			{
				mon = 1;
				y++;
			}
		}
	}
	return false;
}

/* The last civil minute <= m0 that matches, no earlier than 'first_day'. */
static bool
civil_prev(const SmSchedule *s, int64_t m0, int shift, int64_t first_day,
		   int64_t *result)
{
	int64_t		day = floor_div(m0, MINUTES_PER_DAY);
	int			from = (int) (m0 - day * MINUTES_PER_DAY);
	int			y,
				mon,
				mday;

	sm_civil_from_days(day, &y, &mon, &mday);
	while (day >= first_day)
	{
		int			dim = sm_days_in_month(y, mon);
		int			cand;

		if (!((s->month >> mon) & 1))
			cand = -1;
		else
			cand = prev_candidate_mday(s, mday, dim, shift);

		if (cand < 0)
		{
			/* back to the last day of the previous selected month */
			int			pm = bit_at_or_before(s->month, mon - 1);

			if (pm < 1)
			{
				pm = bit_at_or_before(s->month, 12);
				if (pm < 1)
					return false;
				y--;
			}
			mon = pm;
			mday = sm_days_in_month(y, mon);
			day = sm_days_from_civil(y, mon, mday);
			from = MINUTES_PER_DAY - 1;
			continue;
		}
		if (cand < mday)
		{
			day -= mday - cand;
			mday = cand;
			from = MINUTES_PER_DAY - 1;
		}

		{
			DayRange	ranges[2];
			int			n = day_ranges(s, day, mon, mday, shift, ranges);

			for (int i = n - 1; i >= 0; i--)
			{
				int			t = last_time_in(s, from, ranges[i].lo, ranges[i].hi);

				if (t >= 0)
				{
					*result = day * MINUTES_PER_DAY + t;
					return true;
				}
			}
		}

		day--;
		from = MINUTES_PER_DAY - 1;
		if (mday > 1)
			mday--;
		else
		{
			if (--mon < 1)
			{
				mon = 12;
				y--;
			}
			mday = sm_days_in_month(y, mon);
		}
	}
	return false;
}

/*
 * The zone's state at t: the offset (in whole minutes, floored, since fire
 * times are UTC minutes), the "$" shift, and the end of the segment where
 * both hold.
 */
typedef struct Segment
{
	int64_t		offset_min;
	int			shift;
	int64_t		end;			/* first instant after t where it may change */
} Segment;

static bool
segment_at(const SmSchedule *s, const SmTimeZone *tz, int64_t t, Segment *seg)
{
	int32_t		off1,
				off2;
	int64_t		next1,
				next2;

	if (!tz->offset_at(tz->arg, t, &off1, &next1))
		return false;
	seg->offset_min = floor_div(off1, 60);
	seg->shift = 0;
	seg->end = next1;
	if (s->flags & SM_DOM_LAST)
	{
		if (!tz->offset_at(tz->arg, t + SECONDS_PER_DAY, &off2, &next2))
			return false;
		seg->shift = (int) (floor_div(off2, 60) - seg->offset_min);
		if (next2 != INT64_MAX && next2 - SECONDS_PER_DAY < seg->end)
			seg->end = next2 - SECONDS_PER_DAY;
	}
	return true;
}

SmSearch
sm_next(const SmSchedule *s, int64_t after, const SmTimeZone *tz,
		int64_t *result)
{
	int64_t		t;
	int64_t		horizon;

	if (s->kind != SM_KIND_CRON)
		return SM_NOT_CLOCK;
	if (!s->can_fire)
		return SM_NEVER;
	/* beyond the limit, t and the sums below could overflow int64 */
	if (!IN_RANGE(after))
		return SM_NEVER;

	t = (floor_div(after, 60) + 1) * 60;
	horizon = t + HORIZON_DAYS * SECONDS_PER_DAY;
	/* so that every answer lies within the limit too */
	if (horizon > SM_TIME_LIMIT)
		horizon = SM_TIME_LIMIT;
	while (t < horizon)
	{
		Segment		seg;
		int64_t		m;
		int64_t		end;

		if (!segment_at(s, tz, t, &seg))
			return SM_TZ_ERROR;
		end = seg.end < horizon ? seg.end : horizon;
		if (civil_next(s, t / 60 + seg.offset_min, seg.shift,
					   floor_div(floor_div(end - 1, 60) + seg.offset_min, MINUTES_PER_DAY),
					   &m) &&
			(m - seg.offset_min) * 60 < end)
		{
			*result = (m - seg.offset_min) * 60;
			return SM_FOUND;
		}
		/* on to the first UTC minute of the next segment */
		t = floor_div(end + 59, 60) * 60;
	}
	return SM_NEVER;
}

SmSearch
sm_prev(const SmSchedule *s, int64_t at, const SmTimeZone *tz,
		int64_t *result)
{
	int64_t		t;
	int64_t		horizon;

	if (s->kind != SM_KIND_CRON)
		return SM_NOT_CLOCK;
	if (!s->can_fire)
		return SM_NEVER;
	/* beyond the limit, t and the differences below could overflow int64 */
	if (!IN_RANGE(at))
		return SM_NEVER;

	t = floor_div(at, 60) * 60;
	horizon = t - HORIZON_DAYS * SECONDS_PER_DAY;
	/* so that every answer lies within the limit too */
	if (horizon < -SM_TIME_LIMIT)
		horizon = -SM_TIME_LIMIT;
	while (t > horizon)
	{
		Segment		seg,
					cseg;
		int64_t		m,
					c,
					b;

		if (!segment_at(s, tz, t, &seg))
			return SM_TZ_ERROR;
		if (!civil_prev(s, t / 60 + seg.offset_min, seg.shift,
						floor_div(horizon / 60 + seg.offset_min, MINUTES_PER_DAY),
						&m))
			return SM_NEVER;
		c = (m - seg.offset_min) * 60;
		/* the civil search stops at a whole day, which may be past the limit */
		if (!IN_RANGE(c))
			return SM_NEVER;

		/* c is the answer if no change of state lies between c and t */
		if (!segment_at(s, tz, c, &cseg))
			return SM_TZ_ERROR;
		if (cseg.end > t)
		{
			*result = c;
			return SM_FOUND;
		}

		/*
		 * Otherwise nothing matches in t's own segment: find where it starts
		 * and search again from just before it.
		 */
		b = cseg.end;
		for (;;)
		{
			Segment		bseg;

			if (!segment_at(s, tz, b, &bseg))
				return SM_TZ_ERROR;
			if (bseg.end > t)
				break;
			b = bseg.end;
		}
		t = floor_div(b - 1, 60) * 60;
	}
	return SM_NEVER;
}

bool
sm_fires_at(const SmSchedule *s, int64_t t, const SmTimeZone *tz)
{
	int32_t		off;
	int64_t		next;
	int64_t		local;
	int64_t		day;
	int			minute_of_day,
				y,
				mon,
				mday;
	bool		dom_ok,
				dow_ok;

	if (s->kind != SM_KIND_CRON || !s->can_fire || !IN_RANGE(t))
		return false;
	if (!tz->offset_at(tz->arg, t, &off, &next))
		return false;
	local = floor_div(t + off, 60);
	day = floor_div(local, MINUTES_PER_DAY);
	minute_of_day = (int) (local - day * MINUTES_PER_DAY);
	sm_civil_from_days(day, &y, &mon, &mday);

	if (!((s->minute >> (minute_of_day % 60)) & 1) ||
		!((s->hour >> (minute_of_day / 60)) & 1) ||
		!((s->month >> mon) & 1))
		return false;

	dow_ok = (s->dow >> weekday(day)) & 1;
	dom_ok = (s->dom >> mday) & 1;
	if (s->flags & SM_DOM_LAST)
	{
		int			ty,
					tm,
					td;

		if (!tz->offset_at(tz->arg, t + SECONDS_PER_DAY, &off, &next))
			return false;
		sm_civil_from_days(floor_div(floor_div(t + SECONDS_PER_DAY + off, 60),
									 MINUTES_PER_DAY), &ty, &tm, &td);
		dom_ok = td == 1;
	}
	return and_mode(s) ? (dom_ok && dow_ok) : (dom_ok || dow_ok);
}

static bool
utc_offset_at(void *arg, int64_t t, int32_t *utc_offset, int64_t *next_change)
{
	(void) arg;
	(void) t;
	*utc_offset = 0;
	*next_change = INT64_MAX;
	return true;
}

const SmTimeZone sm_utc = {utc_offset_at, NULL};
