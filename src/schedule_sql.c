/*
 * schedule_sql.c
 *		SQL entry points of the schedule module, and the bridge from its
 *		time-zone interface to PostgreSQL's own zone code.
 *
 *	supamon_parse_schedule(schedule, pg_cron_version) -> jsonb
 *	supamon_next_run(schedule, after, tz, pg_cron_version) -> timestamptz
 *	supamon_prev_run(schedule, at, tz, pg_cron_version) -> timestamptz
 *
 * A NULL pg_cron_version means the newest pg_cron supamon knows (1.6); a
 * NULL time zone means GMT, which is what pg_cron before 1.5 uses.
 */
#include "postgres.h"

#include <time.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "schedule.h"
#include "schedule_sql.h"

PG_FUNCTION_INFO_V1(supamon_parse_schedule);
PG_FUNCTION_INFO_V1(supamon_next_run);
PG_FUNCTION_INFO_V1(supamon_prev_run);

static void SupamonTimeZone(const char *name, SmTimeZone *tz);
static SmCronVersion SupamonCronVersion(const char *text);
static void SupamonParseSchedule(const char *text, SmCronVersion version,
								 SmSchedule *s);

/* seconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01 */
#define UNIX_TO_PG_SECONDS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* PostgreSQL's timestamps as seconds since 1970: MIN up to, not with, END */
#define MIN_UNIX_SECONDS (MIN_TIMESTAMP / USECS_PER_SEC + UNIX_TO_PG_SECONDS)
#define END_UNIX_SECONDS (END_TIMESTAMP / USECS_PER_SEC + UNIX_TO_PG_SECONDS)

/* How much of a bad schedule an error message quotes. */
#define SHOWN_SCHEDULE_BYTES 80

/*
 * The zone interface over a pg_tz: pg_next_dst_boundary gives both the
 * offset at t and the next change in one binary search.
 */
static bool
pg_offset_at(void *arg, int64_t t, int32_t *utc_offset, int64_t *next_change)
{
	pg_time_t	tt = (pg_time_t) t;
	long int	before_gmtoff,
				after_gmtoff;
	int			before_isdst,
				after_isdst;
	pg_time_t	boundary;
	int			r;

	r = pg_next_dst_boundary(&tt, &before_gmtoff, &before_isdst, &boundary,
							 &after_gmtoff, &after_isdst, (const pg_tz *) arg);
	if (r < 0)
		return false;
	*utc_offset = (int32_t) before_gmtoff;
	*next_change = (r == 1 && boundary > t) ? (int64_t) boundary : INT64_MAX;
	return true;
}

bool
SupamonLookupTimeZone(const char *name, SmTimeZone *tz)
{
	pg_tz	   *zone = pg_tzset(name);

	if (zone == NULL || !pg_tz_acceptable(zone))
		return false;
	tz->offset_at = pg_offset_at;
	tz->arg = zone;
	return true;
}

/*
 * What a schedule is, once per transaction (a check): a fleet's jobs share
 * a few schedules, and each job's would otherwise be parsed once when its
 * project is recorded (its interval) and again when it is decided.  Kept in
 * TopTransactionContext, so gone with the check; schedules longer than
 * CACHED_SCHEDULE_BYTES, and any beyond CACHED_SCHEDULES, are not kept.
 */
#define CACHED_SCHEDULE_BYTES 256
#define CACHED_SCHEDULES 1024

typedef struct KnownSchedule
{
	char	   *key;			/* version, zone (for the interval), schedule */
	bool		ok;
	SmSchedule	s;				/* ok: the parsed schedule */
	char	   *err;			/* !ok: why not */
	bool		has_gap;		/* interval entries: whether it has one */
	double		gap;
} KnownSchedule;

static HTAB *schedule_cache = NULL;

/* The transaction's memory is reset: the cache went with it. */
static void
forget_schedules(void *arg)
{
	schedule_cache = NULL;
}

static uint32
key_hash(const void *key, Size keysize)
{
	const char *k = *(char *const *) key;

	return hash_bytes((const unsigned char *) k, (int) strlen(k));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The key of a schedule read the way a pg_cron version does, in a zone for
 * its interval (NULL for the schedule alone); false when it is not kept.
 */
static bool
schedule_key(int version, const char *zone, const char *schedule, char *key, size_t size)
{
	if (strlen(schedule) > CACHED_SCHEDULE_BYTES || (zone && strlen(zone) >= NAMEDATALEN))
		return false;
	/* (the zone's length first: no zone and schedule can make another's key) */
	if (zone)
		snprintf(key, size, "%d z%zu %s %s", version, strlen(zone), zone, schedule);
	else
		snprintf(key, size, "%d p %s", version, schedule);
	return true;
}

static KnownSchedule *
known_schedule(const char *key)
{
	char	   *k = (char *) key;

	if (schedule_cache == NULL)
		return NULL;
	return hash_search(schedule_cache, &k, HASH_FIND, NULL);
}

/*
 * Keeps what was learnt of a key, once it is whole (an error while learning
 * it leaves no half an entry).
 */
static void
remember_schedule(const char *key, const KnownSchedule *what)
{
	char	   *k;
	char	   *err;
	KnownSchedule *e;

	if (schedule_cache == NULL)
	{
		HASHCTL		ctl;
		MemoryContextCallback *cb = MemoryContextAlloc(TopTransactionContext,
													   sizeof(MemoryContextCallback));

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(KnownSchedule);
		ctl.hash = key_hash;
		ctl.match = key_match;
		ctl.hcxt = TopTransactionContext;
		schedule_cache = hash_create("supamon schedules", 64, &ctl,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
		/* (not a transaction id: one of a long-lived backend's may come back) */
		cb->func = forget_schedules;
		cb->arg = NULL;
		MemoryContextRegisterResetCallback(TopTransactionContext, cb);
	}
	if (hash_get_num_entries(schedule_cache) >= CACHED_SCHEDULES)
		return;
	/* everything the entry points to first: an error leaves no entry at all */
	k = MemoryContextStrdup(TopTransactionContext, key);
	err = what->err ? MemoryContextStrdup(TopTransactionContext, what->err) : NULL;
	e = hash_search(schedule_cache, &k, HASH_ENTER, NULL);
	*e = *what;
	e->key = k;
	e->err = err;
}

#define SCHEDULE_KEY_SIZE (CACHED_SCHEDULE_BYTES + NAMEDATALEN + 32)

/* See schedule_sql.h. */
bool
SupamonScheduleParse(const char *schedule, SmCronVersion version, SmSchedule *s,
					 char *err, size_t errlen)
{
	char		key[SCHEDULE_KEY_SIZE];
	KnownSchedule *e;
	KnownSchedule learnt;
	char		why[256];

	if (!schedule_key((int) version, NULL, schedule, key, sizeof(key)))
		return sm_parse(schedule, strlen(schedule), version, s, err, errlen);
	e = known_schedule(key);
	if (e == NULL)
	{
		memset(&learnt, 0, sizeof(learnt));
		learnt.ok = sm_parse(schedule, strlen(schedule), version, &learnt.s, why, sizeof(why));
		learnt.err = learnt.ok ? NULL : why;
		remember_schedule(key, &learnt);
		e = &learnt;
	}
	if (e->ok)
		*s = e->s;
	else
		strlcpy(err, e->err, errlen);
	return e->ok;
}

static bool
schedule_gap_minutes(const char *schedule, SmCronVersion v, const char *tz, double *minutes)
{
	SmSchedule	s;
	SmTimeZone	zone;
	char		err[256];
	int64_t		now = (int64_t) time(NULL);
	int64_t		first,
				second;

	if (!SupamonScheduleParse(schedule, v, &s, err, sizeof(err)))
		return false;
	if (s.kind == SM_KIND_INTERVAL)
	{
		*minutes = s.interval_seconds / 60.0;
		return true;
	}
	if (!SupamonLookupTimeZone(tz ? tz : "GMT", &zone))
		return false;
	if (sm_next(&s, now, &zone, &first) != SM_FOUND ||
		sm_next(&s, first, &zone, &second) != SM_FOUND)
		return false;
	*minutes = (second - first) / 60.0;
	return true;
}

bool
SupamonScheduleGapMinutes(const char *schedule, const char *version,
						  const char *tz, double *minutes)
{
	SmCronVersion v = SM_PGCRON_NEWEST;
	char		key[SCHEDULE_KEY_SIZE];
	KnownSchedule *e;
	KnownSchedule learnt;

	if (schedule == NULL)
		return false;

	/*
	 * A project's pg_cron newer than supamon knows is read as the newest, as
	 * the health check does: its jobs still have gaps worth showing.
	 */
	if (version && !sm_parse_version(version, &v))
		v = SM_PGCRON_NEWEST;
	if (!schedule_key((int) v, tz ? tz : "GMT", schedule, key, sizeof(key)))
		return schedule_gap_minutes(schedule, v, tz, minutes);
	e = known_schedule(key);
	if (e == NULL)
	{
		/* (only the interval is kept: the parse has an entry of its own) */
		memset(&learnt, 0, sizeof(learnt));
		learnt.has_gap = schedule_gap_minutes(schedule, v, tz, &learnt.gap);
		remember_schedule(key, &learnt);
		e = &learnt;
	}
	if (e->has_gap)
		*minutes = e->gap;
	return e->has_gap;
}

/*
 * Makes text from the schedule module (UTF-8, quoting the schedule's own
 * bytes) valid in the database's encoding: in a UTF-8 database it is
 * already; elsewhere bytes that do not fit become '?'.
 */
static void
server_safe(char *text)
{
	if (!pg_verifymbstr(text, (int) strlen(text), true))
	{
		for (char *p = text; *p; p++)
			if ((unsigned char) *p >= 0x80)
				*p = '?';
	}
}

static void
SupamonTimeZone(const char *name, SmTimeZone *tz)
{
	pg_tz	   *zone = pg_tzset(name);

	if (zone == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", name),
				 errhint("Use a name from pg_timezone_names, such as \"Europe/Berlin\" or \"GMT\".")));
	if (!pg_tz_acceptable(zone))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" appears to use leap seconds", name),
				 errdetail("PostgreSQL does not support leap seconds.")));
	tz->offset_at = pg_offset_at;
	tz->arg = zone;
}

static SmCronVersion
SupamonCronVersion(const char *text)
{
	SmCronVersion version;

	if (text == NULL)
		return SM_PGCRON_NEWEST;
	if (!sm_parse_version(text, &version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pg_cron version \"%s\"", text),
				 errdetail("supamon knows pg_cron 1.0 to 1.6; a later version may read schedules differently."),
				 errhint("Use a version such as \"1.4\", \"1.5\" or \"1.6\", as in pg_extension.extversion.")));
	return version;
}

static void
SupamonParseSchedule(const char *text, SmCronVersion version, SmSchedule *s)
{
	char		reason[256];
	size_t		len = strlen(text);

	if (!sm_parse(text, len, version, s, reason, sizeof(reason)))
	{
		int			shown = pg_mbcliplen(text, (int) len, SHOWN_SCHEDULE_BYTES);

		server_safe(reason);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%.*s\"%s for %s", shown, text,
						shown < (int) len ? "..." : "", sm_version_name(version)),
				 errdetail("%s.", reason),
				 errhint("pg_cron takes five fields (minute hour day-of-month month day-of-week), "
						 "an @ shortcut such as @daily, or \"N seconds\" with N from 1 to 59.")));
	}
}

/* What a function call needs, kept across calls with the same arguments. */
typedef struct ScheduleCache
{
	char	   *schedule;
	SmCronVersion version;
	SmSchedule	parsed;
	char	   *tzname;
	SmTimeZone	tz;
} ScheduleCache;

/*
 * The parsed schedule and zone for this call, from fn_extra when the
 * arguments are those of the previous call (the common case: one schedule
 * evaluated for many rows).
 */
static ScheduleCache *
cached_schedule(FunctionCallInfo fcinfo, int tz_arg, int version_arg)
{
	ScheduleCache *cache = fcinfo->flinfo->fn_extra;
	char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *version_text = PG_ARGISNULL(version_arg) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(version_arg));
	char	   *tzname = (tz_arg < 0 || PG_ARGISNULL(tz_arg)) ? pstrdup("GMT") :
		text_to_cstring(PG_GETARG_TEXT_PP(tz_arg));
	SmCronVersion version = SupamonCronVersion(version_text);

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScheduleCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->schedule == NULL || cache->version != version ||
		strcmp(cache->schedule, schedule) != 0)
	{
		SmSchedule	parsed;

		SupamonParseSchedule(schedule, version, &parsed);
		if (cache->schedule)
			pfree(cache->schedule);
		cache->schedule = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, schedule);
		cache->version = version;
		cache->parsed = parsed;
	}
	if (cache->tzname == NULL || strcmp(cache->tzname, tzname) != 0)
	{
		SmTimeZone	tz;

		SupamonTimeZone(tzname, &tz);
		if (cache->tzname)
			pfree(cache->tzname);
		cache->tzname = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, tzname);
		cache->tz = tz;
	}
	return cache;
}

int64
SupamonUnixSeconds(TimestampTz t)
{
	/* floor to the second: fire times are whole minutes */
	return (t >= 0 ? t / USECS_PER_SEC : -((-t + USECS_PER_SEC - 1) / USECS_PER_SEC))
		+ UNIX_TO_PG_SECONDS;
}

/* Whether seconds since 1970 t is a time PostgreSQL can hold. */
static bool
unix_seconds_valid(int64 t)
{
	return t >= MIN_UNIX_SECONDS && t < END_UNIX_SECONDS;
}

TimestampTz
SupamonFromUnixSeconds(int64 t)
{
	/* beyond the range the product would be unreadable or overflow */
	if (t < MIN_UNIX_SECONDS)
		return DT_NOBEGIN;
	if (t >= END_UNIX_SECONDS)
		return DT_NOEND;
	return (TimestampTz) ((t - UNIX_TO_PG_SECONDS) * USECS_PER_SEC);
}

static int64
timestamptz_to_unix(TimestampTz t, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite time", what)));
	return SupamonUnixSeconds(t);
}

/*
 * The answer of a next/previous search: the time found, NULL when there is
 * none on the clock (PostgreSQL's clock: a fire time beyond its range is
 * none), an error when the zone could not answer.
 */
static Datum
search_result(FunctionCallInfo fcinfo, const ScheduleCache *c, SmSearch r,
			  int64_t result)
{
	if (r == SM_TZ_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("time zone \"%s\" could not be evaluated", c->tzname)));
	if (r != SM_FOUND || !unix_seconds_valid(result))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(SupamonFromUnixSeconds(result));
}

/*
 * supamon_parse_schedule(schedule text, pg_cron_version text DEFAULT NULL)
 */
Datum
supamon_parse_schedule(PG_FUNCTION_ARGS)
{
	SmSchedule	s;
	char	   *schedule;
	SmCronVersion version;
	size_t		need;
	char	   *json;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version = SupamonCronVersion(PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	SupamonParseSchedule(schedule, version, &s);

	need = sm_to_json(&s, NULL, 0);
	json = palloc(need + 1);
	sm_to_json(&s, json, need + 1);
	server_safe(json);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/*
 * supamon_next_run(schedule text, after timestamptz, tz text DEFAULT 'GMT',
 *					pg_cron_version text DEFAULT NULL)
 *
 * NULL when the schedule never fires on the clock.  An interval schedule
 * is anchored at its previous start: 'after' is taken to be that start.
 */
Datum
supamon_next_run(PG_FUNCTION_ARGS)
{
	ScheduleCache *c;
	TimestampTz after_ts;
	int64		after;
	int64_t		result = 0;
	SmSearch	r;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	c = cached_schedule(fcinfo, 2, 3);
	/* infinity is no start to count from, whatever the kind */
	after_ts = PG_GETARG_TIMESTAMPTZ(1);
	after = timestamptz_to_unix(after_ts, "after");
	if (c->parsed.kind == SM_KIND_INTERVAL)
	{
		/* a finite time plus at most 59 s cannot overflow int64 */
		TimestampTz next = after_ts + (int64) c->parsed.interval_seconds * USECS_PER_SEC;

		if (!IS_VALID_TIMESTAMP(next))
			PG_RETURN_NULL();
		PG_RETURN_TIMESTAMPTZ(next);
	}
	r = sm_next(&c->parsed, after, &c->tz, &result);
	return search_result(fcinfo, c, r, result);
}

/*
 * supamon_prev_run(schedule text, at timestamptz, tz text DEFAULT 'GMT',
 *					pg_cron_version text DEFAULT NULL)
 *
 * The last fire time at or before 'at'; NULL when there is none on the clock
 * (never-firing, @reboot and interval schedules).
 */
Datum
supamon_prev_run(PG_FUNCTION_ARGS)
{
	ScheduleCache *c;
	int64		at;
	int64_t		result = 0;
	SmSearch	r;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	c = cached_schedule(fcinfo, 2, 3);
	at = timestamptz_to_unix(PG_GETARG_TIMESTAMPTZ(1), "at");
	r = sm_prev(&c->parsed, at, &c->tz, &result);
	return search_result(fcinfo, c, r, result);
}
