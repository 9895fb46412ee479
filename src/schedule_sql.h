/*
 * schedule_sql.h
 *		The schedule module as the rest of the backend uses it.
 */
#ifndef SUPAMON_SCHEDULE_SQL_H
#define SUPAMON_SCHEDULE_SQL_H

#include "datatype/timestamp.h"
#include "schedule.h"

/* A timestamp as the schedule module's seconds since 1970 (floored), and back. */
extern int64 SupamonUnixSeconds(TimestampTz t);
extern TimestampTz SupamonFromUnixSeconds(int64 t);

/* A zone by name, over PostgreSQL's zone code; false if unknown. */
extern bool SupamonLookupTimeZone(const char *name, SmTimeZone *tz);

/*
 * The usual gap between two fire times of a schedule, in minutes, as the
 * given pg_cron version (NULL or unknown: newest) runs it in zone tz (NULL:
 * GMT); false when the schedule is invalid or never fires on the clock.
 */
extern bool SupamonScheduleGapMinutes(const char *schedule, const char *version,
									  const char *tz, double *minutes);

/*
 * sm_parse, for a schedule parsed already in this transaction without
 * parsing it again (SPI or not: any backend context).
 */
extern bool SupamonScheduleParse(const char *schedule, SmCronVersion version,
								 SmSchedule *s, char *err, size_t errlen);

#endif							/* SUPAMON_SCHEDULE_SQL_H */
