/*
 * silence.c
 *		Silences and maintenance windows: whether a job or a project may be
 *		alerted about at a given time.
 *
 * A silence holds a project's or some jobs' alerts until a time.  A
 * maintenance window opens at each fire time of a pg_cron schedule, in a
 * time zone (the project's cron.timezone by default), for a duration: the
 * same engine that predicts pg_cron's runs says when it is open, so a weekly
 * window across a DST change opens when pg_cron's clock says.  Jobs are named
 * by a pattern in which only '%' is a wildcard ('_' is common in job names).
 *
 * The check and supamon_silenced() (the views) share this code: what a user
 * reads is what the check did.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "schedule_sql.h"
#include "silence.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_silenced);
PG_FUNCTION_INFO_V1(supamon_time_zone);

typedef struct Silence
{
	int64		id;
	bool		window;			/* a maintenance window, else a one-off silence */
	char	   *pattern;		/* NULL: the whole project */
	int64		from;			/* silence: when it was set */
	int64		until;			/* silence: when it ends */
	SmSchedule	schedule;		/* window */
	SmTimeZone	tz;
	int64		duration;		/* window, seconds */
	char	   *reason;
} Silence;

struct Silences
{
	int			n;
	Silence    *items;
};

/*
 * LIKE with '%' as its only wildcard, iterative with one backtrack point
 * (linear enough for names of at most a few hundred characters).
 */
static bool
pattern_matches(const char *p, const char *s)
{
	const char *star_p = NULL;
	const char *star_s = NULL;

	while (*s)
	{
		if (*p == '%')
		{
			star_p = ++p;
			star_s = s;
		}
		else if (*p == *s)
		{
			p++;
			s++;
		}
		else if (star_p)
		{
			p = star_p;
			s = ++star_s;
		}
		else
			return false;
	}
	while (*p == '%')
		p++;
	return *p == '\0';
}

static SupamonStatement read_silences = {
	.sql = "SELECT s.id, s.kind = 'maintenance', s.job_pattern,"
		" pg_catalog.floor(extract(epoch FROM s.created_at))::int8,"
		" pg_catalog.ceil(extract(epoch FROM s.until))::int8,"
		" s.schedule, coalesce(s.tz, p.cron_timezone, 'GMT'),"
		" extract(epoch FROM s.duration)::int8, s.reason"
		" FROM supamon.silence s JOIN supamon.project p ON p.name = s.project_name"
		" WHERE s.project_name = $1 AND (s.kind = 'maintenance' OR s.until > $2)"
		" ORDER BY s.id",
	.nargs = 2, .types = {TEXTOID, TIMESTAMPTZOID},
	.expect = SPI_OK_SELECT
};

static SupamonStatement read_silenced_projects = {
	.sql = "SELECT DISTINCT project_name FROM supamon.silence"
		" WHERE kind = 'maintenance' OR until > $1",
	.nargs = 1, .types = {TIMESTAMPTZOID},
	.expect = SPI_OK_SELECT
};

/*
 * During a check (SilencesPrepare to SilencesForget): the projects that
 * have a silence that may matter.  Most of a fleet has none, and a query
 * per project to learn so is a share of a check's cost.
 */
static HTAB *silenced_projects = NULL;
static LocalTransactionId silenced_lxid = InvalidLocalTransactionId;
static TimestampTz silenced_since;

void
SilencesPrepare(TimestampTz since)
{
	Datum		values[1] = {TimestampTzGetDatum(since)};
	HASHCTL		ctl;
	HTAB	   *set;

	SilencesForget();
	SupamonRun(&read_silenced_projects, values, NULL);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = NAMEDATALEN;
	ctl.hcxt = TopTransactionContext;
	set = hash_create("supamon silenced projects", Max(SPI_processed, 8), &ctl,
					  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char		key[NAMEDATALEN];

		/* (project names are shorter; a longer one would be asked about) */
		if (strlen(name) >= NAMEDATALEN)
		{
			hash_destroy(set);
			SPI_freetuptable(SPI_tuptable);
			return;
		}
		strlcpy(key, name, NAMEDATALEN);
		(void) hash_search(set, key, HASH_ENTER, NULL);
	}
	SPI_freetuptable(SPI_tuptable);
	/* only a whole set is used */
	silenced_projects = set;
	silenced_lxid = MyProc->lxid;
	silenced_since = since;
}

void
SilencesForget(void)
{
	/* (from another transaction: gone with its memory) */
	if (silenced_projects && silenced_lxid == MyProc->lxid)
		hash_destroy(silenced_projects);
	silenced_projects = NULL;
}

/*
 * The project's silences that may matter from since on (one-off silences not
 * over by then, every window), in the caller's memory context.  SPI
 * connected.
 */
Silences *
SilencesLoad(const char *project, TimestampTz since)
{
	Datum		values[2] = {CStringGetTextDatum(project), TimestampTzGetDatum(since)};
	Silences   *s = palloc0(sizeof(Silences));
	MemoryContext cxt = CurrentMemoryContext;

	/* (a silence over before the set's time may still matter to an earlier one) */
	if (silenced_projects && silenced_lxid == MyProc->lxid && since >= silenced_since &&
		strlen(project) < NAMEDATALEN)
	{
		char		key[NAMEDATALEN];

		strlcpy(key, project, NAMEDATALEN);
		if (hash_search(silenced_projects, key, HASH_FIND, NULL) == NULL)
			return s;
	}
	SupamonRun(&read_silences, values, NULL);
	s->items = MemoryContextAllocZero(cxt, sizeof(Silence) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Silence    *x = &s->items[s->n];
		bool		isnull;
		Datum		d;
		char	   *text;
		char		err[256];

		x->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		x->window = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		text = SPI_getvalue(tup, desc, 3);
		x->pattern = text ? MemoryContextStrdup(cxt, text) : NULL;
		d = SPI_getbinval(tup, desc, 4, &isnull);
		x->from = isnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		x->until = isnull ? 0 : DatumGetInt64(d);
		text = SPI_getvalue(tup, desc, 9);
		x->reason = MemoryContextStrdup(cxt, text ? text : "");
		if (x->window)
		{
			char	   *sched = SPI_getvalue(tup, desc, 6);
			char	   *tz = SPI_getvalue(tup, desc, 7);

			d = SPI_getbinval(tup, desc, 8, &isnull);
			x->duration = isnull ? 0 : DatumGetInt64(d);
			/* checked when added; a row written by hand that is wrong opens nothing */
			if (sched == NULL || x->duration <= 0 ||
				!sm_parse(sched, strlen(sched), SM_PGCRON_NEWEST, &x->schedule, err, sizeof(err)) ||
				x->schedule.kind != SM_KIND_CRON)
				continue;
			/* a project zone PostgreSQL does not know: GMT, as the check does */
			if (!SupamonLookupTimeZone(tz, &x->tz))
				SupamonLookupTimeZone("GMT", &x->tz);
		}
		s->n++;
	}
	return s;
}

static bool
applies(const Silence *x, const char *job)
{
	if (x->pattern == NULL)
		return true;			/* the whole project */
	return job != NULL && pattern_matches(x->pattern, job);
}

/*
 * The silence or window that holds the alerts of job (NULL: the project's
 * own) at time t, or NULL.  With windows_only, one-off silences do not count
 * (they hide alerts, they do not excuse a miss).
 */
const char *
SilenceAt(const Silences *s, const char *job, int64 t, bool windows_only,
		  int64 *from, int64 *until)
{
	for (int i = 0; s && i < s->n; i++)
	{
		const Silence *x = &s->items[i];

		if (!applies(x, job))
			continue;
		/* neither kind reaches back before it was set: it excuses nothing past */
		if (t < x->from)
			continue;
		if (x->window)
		{
			int64_t		opened;

			if (sm_prev(&x->schedule, t, &x->tz, &opened) == SM_FOUND &&
				t < opened + x->duration)
			{
				if (from)
					*from = opened;
				if (until)
					*until = opened + x->duration;
				return x->reason;
			}
		}
		else if (!windows_only && t < x->until)
		{
			if (from)
				*from = x->from;
			if (until)
				*until = x->until;
			return x->reason;
		}
	}
	return NULL;
}

/*
 * supamon_silenced(project text, job text DEFAULT NULL, at timestamptz
 * DEFAULT now(), OUT until timestamptz, OUT reason text): the silence or
 * maintenance window holding the alerts of a job (NULL: the project's own
 * alerts) at that time, or NULL.  The projects' silences are read once per
 * query and project.
 */
Datum
supamon_silenced(PG_FUNCTION_ARGS)
{
	/* a view asks for every job: each project's silences are read once */
	typedef struct Cache
	{
		int			n;
		int			size;
		char	  **projects;
		TimestampTz *at;
		Silences  **silences;
	} Cache;
	Cache	   *c = fcinfo->flinfo->fn_extra;
	char	   *project;
	char	   *job;
	TimestampTz at;
	int64		until = 0;
	const char *reason;
	Silences   *silences = NULL;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	job = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	at = PG_ARGISNULL(2) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(at))
		PG_RETURN_NULL();

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(Cache));
		fcinfo->flinfo->fn_extra = c;
	}
	for (int i = 0; i < c->n; i++)
		if (c->at[i] == at && strcmp(c->projects[i], project) == 0)
			silences = c->silences[i];
	if (silences == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (c->n == c->size)
		{
			c->size = Max(8, c->size * 2);
			c->projects = c->projects ? repalloc(c->projects, sizeof(char *) * c->size) :
				palloc(sizeof(char *) * c->size);
			c->at = c->at ? repalloc(c->at, sizeof(TimestampTz) * c->size) :
				palloc(sizeof(TimestampTz) * c->size);
			c->silences = c->silences ? repalloc(c->silences, sizeof(Silences *) * c->size) :
				palloc(sizeof(Silences *) * c->size);
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "supamon: could not connect to SPI");
		MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		silences = SilencesLoad(project, at);
		SPI_finish();
		MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		c->projects[c->n] = pstrdup(project);
		c->at[c->n] = at;
		c->silences[c->n] = silences;
		c->n++;
		MemoryContextSwitchTo(old);
	}

	reason = SilenceAt(silences, job, SupamonUnixSeconds(at), false, NULL, &until);
	if (reason == NULL)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "supamon: supamon_silenced must return a row");
	desc = BlessTupleDesc(desc);
	values[0] = TimestampTzGetDatum(SupamonFromUnixSeconds(until));
	values[1] = CStringGetTextDatum(reason);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * supamon_time_zone(name text) RETURNS text: the zone supamon evaluates a
 * name as: itself when PostgreSQL knows it, else GMT (a project's
 * cron.timezone is the project's to say; the check falls back the same way).
 */
Datum
supamon_time_zone(PG_FUNCTION_ARGS)
{
	char	   *name;
	SmTimeZone	tz;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text("GMT"));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PG_RETURN_TEXT_P(cstring_to_text(SupamonLookupTimeZone(name, &tz) ? name : "GMT"));
}
