/*
 * schedule.h
 *		pg_cron's schedule language, as a pure C module (no backend headers).
 *
 * supamon predicts what pg_cron will do, so the parser follows pg_cron's own
 * (Vixie cron's) character by character, including what it silently accepts,
 * and the evaluator follows pg_cron's launcher: every UTC minute t is a fire
 * time when the wall-clock time of t in the job's time zone matches.
 *
 * Times are int64 seconds since 1970-01-01 00:00 UTC.  Time zones come in
 * through SmTimeZone, so the backend plugs in PostgreSQL's own zone code and
 * the unit tests plug in theirs.
 */
#ifndef SUPAMON_SCHEDULE_H
#define SUPAMON_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * pg_cron versions whose schedule language differs.  Every 1.6 value
 * compares >= SM_PGCRON_1_6; the last two are releases named with a patch
 * level, which differ on a step larger than the field's maximum.
 */
typedef enum SmCronVersion
{
	SM_PGCRON_1_4 = 14,			/* 1.4 and older: cron syntax only */
	SM_PGCRON_1_5 = 15,			/* adds "N seconds" and cron.timezone */
	SM_PGCRON_1_6 = 16,			/* adds "$"; @yearly/@annually never fire;
								 * the release is not known ("1.6") */
	SM_PGCRON_1_6_0 = 17,		/* 1.6.0 to 1.6.4: a too large step takes the
								 * range's first value */
	SM_PGCRON_1_6_5 = 18		/* 1.6.5 and later: a too large step is an
								 * error */
} SmCronVersion;

#define SM_PGCRON_NEWEST SM_PGCRON_1_6

typedef enum SmKind
{
	SM_KIND_CRON,				/* five fields or an @ shortcut */
	SM_KIND_INTERVAL,			/* "N seconds" */
	SM_KIND_REBOOT				/* @reboot / @restart: once per server start */
} SmKind;

/* flags, as pg_cron keeps them */
#define SM_MIN_STAR		0x01	/* minute field starts with '*' */
#define SM_HR_STAR		0x02	/* hour field starts with '*' */
#define SM_DOM_STAR		0x04	/* day-of-month field starts with '*' */
#define SM_DOW_STAR		0x08	/* day-of-week field starts with '*' */
#define SM_DOM_LAST		0x10	/* day-of-month is '$' */

#define SM_MAX_WARNINGS 4
#define SM_TEXT_LEN 160

typedef struct SmSchedule
{
	SmKind		kind;
	SmCronVersion version;		/* the pg_cron whose rules were applied */
	uint64_t	minute;			/* bit m: minute m (0-59) */
	uint32_t	hour;			/* bit h: hour h (0-23) */
	uint32_t	dom;			/* bit d: day of month d (1-31) */
	uint32_t	month;			/* bit m: month m (1-12) */
	uint32_t	dow;			/* bit d: weekday d (0-6, Sunday 0) */
	int			flags;			/* SM_*_STAR, SM_DOM_LAST */
	int			interval_seconds;	/* SM_KIND_INTERVAL */
	const char *shortcut;		/* "@daily" etc., or NULL */

	/* Whether any clock time can ever fire (a reboot job never does). */
	bool		can_fire;
	char		never_reason[SM_TEXT_LEN];

	/* Things pg_cron accepts silently that a user should know about. */
	int			nwarnings;
	char		warnings[SM_MAX_WARNINGS][SM_TEXT_LEN];
} SmSchedule;

/*
 * Parses a schedule the way the given pg_cron version does.  Returns true and
 * fills *out when that version accepts it; otherwise returns false with a
 * reason in err (never longer than errlen - 1 bytes).
 */
extern bool sm_parse(const char *text, size_t len, SmCronVersion version,
					 SmSchedule *out, char *err, size_t errlen);

/*
 * Reads a pg_cron version string ("1.4", "1.4-1", "1.6.4").  False when it is
 * not one supamon knows (1.0 to 1.6); 1.0 to 1.3 get 1.4's rules.  "1.6" and
 * "1.6-N" (what pg_extension.extversion holds) are SM_PGCRON_1_6; a release
 * "1.6.N" is SM_PGCRON_1_6_0 (N up to 4) or SM_PGCRON_1_6_5.
 */
extern bool sm_parse_version(const char *text, SmCronVersion *version);
extern const char *sm_version_name(SmCronVersion version);

/*
 * A time zone: the UTC offset in effect at an instant, and the next instant
 * after it at which the offset may change (INT64_MAX when it never does).
 * Returns false when the zone cannot answer (the search then gives up).
 */
typedef struct SmTimeZone
{
	bool		(*offset_at) (void *arg, int64_t t, int32_t *utc_offset,
							  int64_t *next_change);
	void	   *arg;
} SmTimeZone;

/* A zone that is always UTC (pg_cron before 1.5 evaluates in GMT). */
extern const SmTimeZone sm_utc;

/*
 * The times searches cover: less than SM_TIME_LIMIT seconds from 1970 either
 * way (about 35 million years: far beyond PostgreSQL's timestamps, and far
 * enough from the ends of int64 that no arithmetic of a search overflows).
 */
#define SM_TIME_LIMIT ((int64_t) 1 << 50)

typedef enum SmSearch
{
	SM_FOUND,
	SM_NEVER,					/* no fire time in that direction (within
								 * SM_TIME_LIMIT) */
	SM_NOT_CLOCK,				/* interval or reboot: not anchored to the clock */
	SM_TZ_ERROR					/* the time zone could not answer */
} SmSearch;

/*
 * The first fire time strictly after 'after'; SM_NEVER when 'after' or that
 * fire time lies outside SM_TIME_LIMIT.
 */
extern SmSearch sm_next(const SmSchedule *s, int64_t after,
						const SmTimeZone *tz, int64_t *result);

/*
 * The last fire time at or before 'at'; SM_NEVER when 'at' or that fire time
 * lies outside SM_TIME_LIMIT.
 */
extern SmSearch sm_prev(const SmSchedule *s, int64_t at,
						const SmTimeZone *tz, int64_t *result);

/*
 * Whether UTC minute t (a multiple of 60) is a fire time: pg_cron's test.
 * False outside SM_TIME_LIMIT.
 */
extern bool sm_fires_at(const SmSchedule *s, int64_t t, const SmTimeZone *tz);

/* Civil calendar helpers, shared with the unit tests. */
extern int64_t sm_days_from_civil(int y, int m, int d);
extern void sm_civil_from_days(int64_t days, int *y, int *m, int *d);
extern int	sm_days_in_month(int y, int m);

/*
 * Length of the valid UTF-8 character at p (n bytes available), or 0: the
 * rules of PostgreSQL's pg_utf8_islegal (no overlong forms, no surrogates,
 * nothing above U+10FFFF), so text made of such characters jsonb_in takes.
 */
extern size_t sm_utf8_char_len(const unsigned char *p, size_t n);

/*
 * A human description ("at 09:00, Monday through Friday") into buf.
 */
extern void sm_describe(const SmSchedule *s, char *buf, size_t buflen);

/*
 * The schedule as a JSON object (kind, fields, description, can_fire,
 * warnings).  Returns the number of bytes the full text needs, excluding
 * the terminator, like snprintf.
 */
extern size_t sm_to_json(const SmSchedule *s, char *buf, size_t buflen);

#endif							/* SUPAMON_SCHEDULE_H */
