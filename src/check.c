/*
 * check.c
 *		supamon_check_health(project DEFAULT NULL): collect, decide, record
 *		transitions and queue alerts, all in the caller's transaction.
 *
 * Each project is decided on its own clock (the now() it reported) and in
 * its cron.timezone, with the schedule language of its pg_cron version.
 * Only changes alert: into failed, missed, stuck (jobs) or unreachable,
 * scheduler down (projects), and back to success ("recovered").  A problem
 * that stays is reminded every supamon.repeat_interval.  State lives in the
 * tables, so a restart neither repeats nor forgets an alert, and the project
 * rows stay locked until commit, so two checks at once never queue twice.
 *
 * While a project's scheduler is down its jobs are still decided, but their
 * alerts fold into the project's one alert.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "deliver.h"
#include "edge.h"
#include "health.h"
#include "inventory.h"
#include "schedule_sql.h"
#include "silence.h"
#include "supamon.h"
#include "watch.h"

PG_FUNCTION_INFO_V1(supamon_check_health);

static Datum check_health(const char *only);

/* How far past the project's clock a run's start may be (a clock's jitter). */
#define FUTURE_SLACK_SECONDS (5 * 60)

typedef struct CheckTotals
{
	int			jobs;
	int			by_status[HEALTH_REMOVED + 1];
	int			unreachable;
	int			scheduler_down;
	int			paused;
	int			alerts;
} CheckTotals;

/*
 * The project's last outage (unreachable or scheduler down), on the
 * central clock: a run missed inside it belongs in the recovery message,
 * not in an alert of its own afterwards.
 */
typedef struct Outage
{
	int64		from;			/* HEALTH_NO_TIME: none known */
	int64		until;
	StringInfo	misses;			/* at the recovery: "job missed time" for each */
} Outage;

/*
 * A fire this close to the end of an outage may still be running late: it
 * is judged as any other fire, not as part of the outage.
 */
#define OUTAGE_SETTLE_SECONDS 60

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Counts a job that keeps the status it had. */
static void
count_as_it_stands(const char *status, CheckTotals *totals)
{
	totals->jobs++;
	for (int k = 0; k <= HEALTH_REMOVED; k++)
		if (strcmp(status, health_status_name(k)) == 0)
			totals->by_status[k]++;
}

static bool
is_bad(const char *status)
{
	return strcmp(status, "failed") == 0 || strcmp(status, "missed") == 0 ||
		strcmp(status, "stuck") == 0 || strcmp(status, "unreachable") == 0 ||
		strcmp(status, "scheduler_down") == 0;
}

/* A project's bad statuses: a job's "paused" is its own choice, a project's is not. */
static bool
is_bad_project(const char *status)
{
	return is_bad(status) || strcmp(status, "paused") == 0;
}

static SupamonStatement insert_alert = {
	.sql = "INSERT INTO supamon.alert_outbox (channel_id, channel, via_setting,"
		"  project_name, job_type, job_name, event, criticality, message, details)"
		" SELECT t.id, t.channel, t.via_setting, $1, CASE WHEN $2 IS NOT NULL THEN $14 END,"
		"   $2, $3, $4, $5,"
		"   jsonb_strip_nulls(jsonb_build_object('project', $1, 'job', $2, 'event', $3,"
		"     'type', CASE WHEN $2 IS NOT NULL THEN $14 END,"
		"     'status', $6, 'previous', $7, 'reason', $8, 'criticality', $4,"
		"     'schedule', j.schedule, 'schedule_meaning', $9,"
		"     'last_run', to_char(j.last_run_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')"
		"        || coalesce(' (' || j.last_run_status || ')', ''),"
		"     'last_run_at', j.last_run_started_at, 'last_run_status', j.last_run_status,"
		"     'error', CASE WHEN $6 = 'failed' AND j.last_run_status = 'failed' THEN j.last_run_message"
		"       WHEN $6 = 'failed' AND j.http_outcome IN ('failed', 'timed_out', 'error') THEN j.http_error END,"
		"     'next_expected', to_char($10 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'),"
		"     'next_expected_at', $10, 'during_outage', $11))"
		" FROM (SELECT c.id, c.channel, false AS via_setting FROM supamon.alert_config c"
		"       WHERE c.enabled AND (c.criticality = 'all' OR"
		"         (CASE c.criticality WHEN 'critical' THEN 3 WHEN 'important' THEN 2 ELSE 1 END)"
		"         <= (CASE $4 WHEN 'critical' THEN 3 WHEN 'important' THEN 2 ELSE 1 END))"
		"       UNION ALL"
		"       SELECT NULL, 'discord', true WHERE $12 AND NOT EXISTS"
		"         (SELECT FROM supamon.alert_config WHERE channel = 'discord' AND enabled)"
		"       UNION ALL"
		"       SELECT NULL, 'telegram', true WHERE $13 AND $4 = 'critical' AND NOT EXISTS"
		"         (SELECT FROM supamon.alert_config WHERE channel = 'telegram' AND enabled)) t"
		" LEFT JOIN supamon.job_inventory j"
		"   ON j.project_name = $1 AND j.job_type = $14 AND j.job_name = $2",
	.nargs = 14, .types = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, BOOLOID, BOOLOID, TEXTOID},
	.expect = SPI_OK_INSERT
};

/*
 * Queues an alert for every enabled channel whose criticality filter lets it
 * through ('all', or a level at or below the alert's), and for the
 * settings' channels where alert_config has no enabled channel of their
 * kind (Discord: every alert; Telegram: critical ones).  What a message
 * shows is copied into details now: the job may change before it is sent.
 * Returns the number of outbox rows.
 */
static int
queue_alert(const char *project, const char *job_type, const char *job_name, const char *event,
			const char *criticality, const char *message, const char *status,
			const char *previous, const char *reason, const char *meaning,
			int64 next_expected, const char *during_outage)
{
	Datum		values[14];
	char		nulls[15] = "              ";
	uint64		n;

	values[0] = CStringGetTextDatum(project);
	values[1] = text_or_null(job_name, &nulls[1]);
	values[2] = CStringGetTextDatum(event);
	values[3] = CStringGetTextDatum(criticality);
	values[4] = CStringGetTextDatum(message);
	values[5] = text_or_null(status, &nulls[5]);
	values[6] = text_or_null(previous, &nulls[6]);
	values[7] = text_or_null(reason, &nulls[7]);
	values[8] = text_or_null(meaning, &nulls[8]);
	values[9] = TimestampTzGetDatum(SupamonFromUnixSeconds(next_expected));
	nulls[9] = next_expected == HEALTH_NO_TIME ? 'n' : ' ';
	values[10] = text_or_null(during_outage, &nulls[10]);
	values[11] = BoolGetDatum(supamon_discord_webhook_url && supamon_discord_webhook_url[0]);
	values[12] = BoolGetDatum(supamon_telegram_bot_token && supamon_telegram_bot_token[0] &&
							  supamon_telegram_chat_id && supamon_telegram_chat_id[0]);
	values[13] = CStringGetTextDatum(job_type);
	n = SupamonRun(&insert_alert, values, nulls);
	if (n > 0)
		SupamonWakeWorkerAtCommit();
	return (int) n;
}

static SupamonStatement read_criticality = {
	.sql = "SELECT CASE max(CASE criticality WHEN 'critical' THEN 3"
		" WHEN 'important' THEN 2 ELSE 1 END)"
		" WHEN 3 THEN 'critical' WHEN 1 THEN 'low' ELSE 'important' END"
		" FROM supamon.job_inventory WHERE project_name = $1 AND removed_at IS NULL",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * The criticality of a project-wide alert: its most critical live job's.
 */
static const char *
project_criticality(const char *project)
{
	Datum		values[1] = {CStringGetTextDatum(project)};

	SupamonRun(&read_criticality, values, NULL);
	return pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

static SupamonStatement read_paused_told = {
	.sql = "SELECT EXISTS (SELECT FROM supamon.alert_outbox o, supamon.project p"
		" WHERE p.name = $1 AND o.project_name = $1 AND o.job_name IS NULL"
		"   AND o.event = 'paused' AND o.created_at >= p.status_since)",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * Whether this outage's "paused" was told already (status_since is kept
 * across paused and unreachable).  Asked only on such a change: the outbox
 * is not indexed by project.
 */
static bool
paused_told_in_outage(const char *project)
{
	Datum		values[1] = {CStringGetTextDatum(project)};
	bool		isnull;

	SupamonRun(&read_paused_told, values, NULL);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static SupamonStatement update_project_status = {
	.sql = "UPDATE supamon.project SET"
		" status_since = CASE WHEN (status IS DISTINCT FROM $2"
		"     AND NOT (status IN ('paused', 'unreachable') AND $2 IN ('paused', 'unreachable')))"
		"   OR status_since IS NULL THEN now() ELSE status_since END,"
		" status = $2,"
		" last_alerted_at = CASE WHEN $3 THEN now() ELSE last_alerted_at END,"
		" health_note = $4,"
		" outage_from = CASE WHEN $5 THEN status_since ELSE outage_from END,"
		" outage_until = CASE WHEN $5 THEN now() ELSE outage_until END"
		" WHERE name = $1",
	.nargs = 5, .types = {TEXTOID, TEXTOID, BOOLOID, TEXTOID, BOOLOID},
	.expect = SPI_OK_UPDATE
};

/*
 * The project's own status (ok, unreachable, scheduler down): transition,
 * alert, reminder.  Returns the new status.  A recovery is not queued here:
 * *recovery gets its message, for the caller to queue once the jobs have
 * said what they missed during the outage (no echo afterwards).
 */
static char *
check_project_status(const char *name, bool reachable, const char *paused_as,
					 bool scheduler_known, bool scheduler_running, const char *last_error,
					 const char *old_status, bool since_known, const char *old_note,
					 bool reminder_due, bool bad_was_alerted,
					 const char *note, bool silenced, char **recovery, CheckTotals *totals)
{
	const char *status = !reachable ? (paused_as ? "paused" : "unreachable") :
		(scheduler_known && !scheduler_running) ? "scheduler_down" : "ok";
	const char *event = NULL;
	char	   *message = NULL;
	Datum		values[5];
	char		nulls[6] = "     ";
	bool		changed = strcmp(status, old_status) != 0;
	bool		recovering = changed && is_bad_project(old_status) && !is_bad_project(status);

	*recovery = NULL;
	/* silenced: decided and recorded, not told (told when the silence ends) */
	if (silenced)
		event = NULL;
	/*
	 * Down either way, the API's word for it coming and going: one outage.
	 * That Supabase paused it is news once; no other change of word is.
	 */
	else if (changed &&
			 (strcmp(status, "paused") == 0 || strcmp(status, "unreachable") == 0) &&
			 (strcmp(old_status, "paused") == 0 || strcmp(old_status, "unreachable") == 0))
		event = strcmp(status, "paused") == 0 && !paused_told_in_outage(name) ? status : NULL;
	else if (changed && is_bad_project(status))
		event = status;
	else if (recovering)
		event = "recovered";
	else if (!changed && is_bad_project(status) && !bad_was_alerted)
		event = status;			/* a problem no one was told about: told now */
	else if (!changed && is_bad_project(status) && reminder_due &&
			 strcmp(status, "paused") != 0)
		event = "reminder";		/* (a pause may be meant: told once) */

	if (event)
	{
		if (strcmp(status, "unreachable") == 0)
			message = psprintf("%s project %s is unreachable: %s",
							   strcmp(event, "reminder") == 0 ? "Still:" : "",
							   name, last_error ? last_error : "no answer");
		else if (strcmp(status, "paused") == 0)
			message = psprintf("%s project %s is paused by Supabase (its status there: %s): its database does not answer and no job runs; restore it from the Supabase dashboard",
							   strcmp(event, "reminder") == 0 ? "Still:" : "", name, paused_as);
		else if (strcmp(status, "scheduler_down") == 0)
			message = psprintf("%s project %s: the pg_cron scheduler is not running, no job runs",
							   strcmp(event, "reminder") == 0 ? "Still:" : "", name);
		else
			message = psprintf("project %s recovered: reachable and its pg_cron scheduler running",
							   name);
		if (recovering)
			*recovery = message;
		else
			totals->alerts += queue_alert(name, "pg_cron", NULL, event, project_criticality(name),
										  message[0] == ' ' ? message + 1 : message,
										  status, old_status, last_error, NULL, HEALTH_NO_TIME, NULL);
	}

	/* a status that stays, with nothing told and the same note, is not written again */
	if (changed || !since_known || event || (note == NULL) != (old_note == NULL) ||
		(note && strcmp(note, old_note) != 0))
	{
		values[0] = CStringGetTextDatum(name);
		values[1] = CStringGetTextDatum(status);
		values[2] = BoolGetDatum(event != NULL);
		values[3] = text_or_null(note, &nulls[3]);
		values[4] = BoolGetDatum(recovering);
		SupamonRun(&update_project_status, values, nulls);
	}
	if (strcmp(status, "unreachable") == 0)
		totals->unreachable++;
	else if (strcmp(status, "paused") == 0)
		totals->paused++;
	else if (strcmp(status, "scheduler_down") == 0)
		totals->scheduler_down++;
	return pstrdup(status);
}

/*
 * Whether a job's miss is only the project's last outage: the fire it missed
 * lies inside it, and (for an interval schedule, whose missed fire stays
 * put) it has not had time since to run again.
 */
static bool
missed_only_in_outage(const HealthInput *in, const HealthResult *out, const Outage *outage)
{
	int64		fire = out->missed_fire;

	if (fire == HEALTH_NO_TIME || outage->from == HEALTH_NO_TIME ||
		fire < outage->from || fire > outage->until - OUTAGE_SETTLE_SECONDS)
		return false;
	if (in->schedule && in->schedule->kind == SM_KIND_INTERVAL)
	{
		int64		every = in->schedule->interval_seconds;
		int64		grace = in->grace != HEALTH_NO_TIME ? in->grace : health_default_grace(every);

		return in->now <= outage->until + every + grace;
	}
	return true;
}

/*
 * A miss whose fire lies in a maintenance window: the window excuses the
 * fires of that one opening, no more.  The last fire before the window
 * opened must have had its run (else that is the real miss), so a job that
 * never runs is missed whatever windows cover its fires.  An interval job is
 * excused only until its next start after the window is due (its missed
 * fire does not move).
 */
static void
excuse_window_misses(const HealthInput *in, HealthResult *out, const Silences *silences,
					 const char *name)
{
	int64		opened = 0;
	int64		closes = 0;
	const char *window = SilenceAt(silences, name, out->missed_fire, true, &opened, &closes);
	char		when[64];

	if (window == NULL)
		return;
	if (in->schedule->kind == SM_KIND_INTERVAL)
	{
		int64		every = in->schedule->interval_seconds;
		int64		grace = in->grace != HEALTH_NO_TIME ? in->grace : health_default_grace(every);

		if (in->now > closes + every + grace)
			return;
	}
	else
	{
		int64_t		before;

		/* (a job never seen running is not missed before supamon knew it) */
		if (sm_prev(in->schedule, opened - 1, in->tz, &before) == SM_FOUND &&
			(in->last_start == HEALTH_NO_TIME ? before >= in->known_since : in->last_start < before))
		{
			char		t1[64];

			health_format_time(before, t1, sizeof(t1));
			out->missed_fire = before;
			snprintf(out->reason, sizeof(out->reason),
					 "no run started for its fire at %s, before a maintenance window", t1);
			return;
		}
	}
	health_format_time(out->missed_fire, when, sizeof(when));
	out->missed_fire = HEALTH_NO_TIME;
	out->status = in->last_finished_start != HEALTH_NO_TIME ? HEALTH_SUCCESS : HEALTH_UNKNOWN;
	snprintf(out->reason, sizeof(out->reason),
			 "its run due at %s fell in a maintenance window (%s)", when, window);
}

/*
 * The fire of a job that fell inside the project's last outage and had no
 * run, or HEALTH_NO_TIME.
 */
static int64
missed_in_outage(const HealthInput *in, const Outage *outage)
{
	int64		fire;

	if (outage->from == HEALTH_NO_TIME || in->schedule == NULL || !in->active || in->removed)
		return HEALTH_NO_TIME;
	if (sm_prev(in->schedule, outage->until - OUTAGE_SETTLE_SECONDS, in->tz, &fire) != SM_FOUND ||
		fire < outage->from)
		return HEALTH_NO_TIME;
	if (in->last_start != HEALTH_NO_TIME && in->last_start >= fire)
		return HEALTH_NO_TIME;
	return fire;
}

/*
 * The run strip's marks for fires missed up to 'fire' (the one the decision
 * named), each counted once: fires after the last run's start and after
 * those already marked; NULL when there is none to mark, else *upto is
 * the time marked up to.  An interval schedule ("30 seconds") names the
 * same fire while the job stays dead: its misses are counted by the time
 * elapsed, one per interval, up to the project's clock.
 */
static char *
strip_misses(const HealthInput *in, int64 fire, int64 marked_upto, int64 *upto)
{
	int64		from = in->last_start != HEALTH_NO_TIME ? in->last_start : in->known_since;
	int64		t;
	int			n = 0;
	StringInfoData marks;

	*upto = fire;
	if (marked_upto != HEALTH_NO_TIME && marked_upto > from)
		from = marked_upto;
	if (in->schedule && in->schedule->kind == SM_KIND_INTERVAL)
	{
		int64		every = Max(in->schedule->interval_seconds, 1);
		/* the fires whose grace is over, not one that may still run late */
		int64		until = in->now - (in->grace != HEALTH_NO_TIME ? in->grace :
									   health_default_grace(every));

		if (until - from < every)
			return NULL;
		n = (int) Min((until - from) / every, STRIP_RUNS);
		*upto = from + (until - from) / every * every;
	}
	else
	{
		if (marked_upto != HEALTH_NO_TIME && fire <= marked_upto)
			return NULL;
		if (in->schedule && in->schedule->kind == SM_KIND_CRON)
		{
			t = from;
			while (n < STRIP_RUNS && sm_next(in->schedule, t, in->tz, &t) == SM_FOUND && t <= fire)
				n++;
		}
		if (n == 0)
			n = 1;
	}
	initStringInfo(&marks);
	for (int k = 0; k < n; k++)
		appendStringInfoString(&marks, SupamonStripMark('m'));
	return marks.data;
}

/*
 * What a check decided of a project's jobs (or Edge Functions), written
 * once every one is decided: only the rows where something changed, in
 * one statement, and their transitions in another.  For pg_cron jobs the
 * run columns the recording left go with the statuses, so that a job
 * with news gets one new row version per check.
 */
typedef struct StatusWrites
{
	const char *job_type;
	bool		with_runs;		/* pg_cron jobs */
	int			n;
	char	  **names;
	char	  **statuses;
	char	  **reasons;
	TimestampTz *next;			/* INVENTORY_NO_TIME: none */
	bool	   *alerted;
	InventoryRuns **runs;		/* with_runs: the run columns to write */
	bool	   *seen;			/* with_runs: the recording changed them */
	TimestampTz *missed_upto;	/* with_runs: INVENTORY_NO_TIME, or missed fires marked */
	int			ntransitions;
	char	  **t_names;
	char	  **t_statuses;
	char	  **t_reasons;
} StatusWrites;

/* Room for up to cap rows of a job type. */
static void
status_writes_init(StatusWrites *w, const char *job_type, bool with_runs, uint64 cap)
{
	size_t		c = Max(cap, 1);

	memset(w, 0, sizeof(*w));
	w->job_type = job_type;
	w->with_runs = with_runs;
	w->names = palloc(sizeof(char *) * c);
	w->statuses = palloc(sizeof(char *) * c);
	w->reasons = palloc(sizeof(char *) * c);
	w->next = palloc(sizeof(TimestampTz) * c);
	w->alerted = palloc(sizeof(bool) * c);
	w->t_names = palloc(sizeof(char *) * c);
	w->t_statuses = palloc(sizeof(char *) * c);
	w->t_reasons = palloc(sizeof(char *) * c);
	if (with_runs)
	{
		w->runs = palloc(sizeof(InventoryRuns *) * c);
		w->seen = palloc(sizeof(bool) * c);
		w->missed_upto = palloc(sizeof(TimestampTz) * c);
	}
}

/*
 * Adds a job's new status (and when someone was told) to write, and its
 * transition to log when the status changed.  Returns the row's index.
 */
static int
status_writes_add(StatusWrites *w, const char *name, const char *status, const char *reason,
				  int64 next_expected, bool alerted, bool changed)
{
	int			k = w->n++;

	w->names[k] = (char *) name;
	w->statuses[k] = (char *) status;
	w->reasons[k] = reason[0] ? pstrdup(reason) : NULL;
	w->next[k] = next_expected == HEALTH_NO_TIME ? INVENTORY_NO_TIME :
		SupamonFromUnixSeconds(next_expected);
	w->alerted[k] = alerted;
	if (changed)
	{
		w->t_names[w->ntransitions] = (char *) name;
		w->t_statuses[w->ntransitions] = (char *) status;
		w->t_reasons[w->ntransitions++] = w->reasons[k];
	}
	return k;
}

/* How a status is set from "u" (status, reason, next, alerted), "i" the row as it was. */
#define STATUS_SET \
	" status_since = CASE WHEN i.status IS DISTINCT FROM u.status OR i.status_since IS NULL" \
	"   THEN now() ELSE i.status_since END," \
	" acked_at = CASE WHEN i.status IS DISTINCT FROM u.status THEN NULL ELSE i.acked_at END," \
	" status = u.status, status_reason = u.reason, next_expected_at = u.next," \
	" last_alerted_at = CASE WHEN u.alerted THEN now() ELSE i.last_alerted_at END"

/* write_jobs' rows: a job's name, its run columns, what the check made of it */
#define WJ_RUNS 1
#define WJ_SEEN (WJ_RUNS + INVENTORY_RUNS_NCOLUMNS)
#define WJ_NCOLUMNS (WJ_SEEN + 6)

static SupamonStatement write_jobs = {
	.sql = "UPDATE supamon.job_inventory i SET" INVENTORY_RUNS_SET ","
		" last_seen_at = CASE WHEN u.seen THEN now() ELSE i.last_seen_at END,"
		" strip_missed_upto = coalesce(u.missed_upto, i.strip_missed_upto)," STATUS_SET
		" FROM unnest($2) AS u(name text, " INVENTORY_RUNS_DEFINITION ", seen bool,"
		"   missed_upto timestamptz, status text, reason text, next timestamptz, alerted bool)"
		" WHERE i.project_name = $1 AND i.job_type = 'pg_cron' AND i.job_name = u.name",
	.nargs = 2, .types = {TEXTOID, RECORDARRAYOID},
	.expect = SPI_OK_UPDATE
};

static const Oid write_jobs_types[WJ_NCOLUMNS] = {TEXTOID, INVENTORY_RUNS_RECORD_TYPES, BOOLOID,
TIMESTAMPTZOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
static TupleDesc write_jobs_row = NULL;

static SupamonStatement write_statuses = {
	.sql = "UPDATE supamon.job_inventory i SET" STATUS_SET
		" FROM unnest($3, $4, $5, $6, $7) AS u(name, status, reason, next, alerted)"
		" WHERE i.project_name = $1 AND i.job_type = $2 AND i.job_name = u.name",
	.nargs = 7, .types = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, BOOLARRAYOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement insert_transitions = {
	.sql = "INSERT INTO supamon.job_health_log (project_name, job_type, job_name,"
		"  status, error_message, last_run_at)"
		" SELECT $1, $2, u.name, u.status, u.reason, i.last_run_started_at"
		" FROM unnest($3, $4, $5) WITH ORDINALITY AS u(name, status, reason, k)"
		" JOIN supamon.job_inventory i"
		"   ON i.project_name = $1 AND i.job_type = $2 AND i.job_name = u.name"
		" ORDER BY u.k",
	.nargs = 5, .types = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
	.expect = SPI_OK_INSERT
};

/* Row k of write_jobs' parameter (SupamonRecordArray). */
static void
write_jobs_fill(void *arg, int k, Datum *r, bool *rn)
{
	StatusWrites *w = arg;

	r[0] = CStringGetTextDatum(w->names[k]);
	InventoryRunsValues(w->runs[k], &r[WJ_RUNS], &rn[WJ_RUNS]);
	r[WJ_SEEN] = BoolGetDatum(w->seen[k]);
	r[WJ_SEEN + 1] = TimestampTzGetDatum(w->missed_upto[k]);
	rn[WJ_SEEN + 1] = w->missed_upto[k] == INVENTORY_NO_TIME;
	rn[WJ_SEEN + 2] = w->statuses[k] == NULL;
	r[WJ_SEEN + 2] = rn[WJ_SEEN + 2] ? (Datum) 0 : CStringGetTextDatum(w->statuses[k]);
	rn[WJ_SEEN + 3] = w->reasons[k] == NULL;
	r[WJ_SEEN + 3] = rn[WJ_SEEN + 3] ? (Datum) 0 : CStringGetTextDatum(w->reasons[k]);
	r[WJ_SEEN + 4] = TimestampTzGetDatum(w->next[k]);
	rn[WJ_SEEN + 4] = w->next[k] == INVENTORY_NO_TIME;
	r[WJ_SEEN + 5] = BoolGetDatum(w->alerted[k]);
}

/* Writes what was added, then logs the transitions (with the last run as written). */
static void
status_writes_flush(const char *project, StatusWrites *w)
{
	Datum		values[7];
	Datum		name = CStringGetTextDatum(project);
	Datum		type = CStringGetTextDatum(w->job_type);

	if (w->n > 0 && w->with_runs)
	{
		values[0] = name;
		values[1] = SupamonRecordArray(SupamonRowType(&write_jobs_row, WJ_NCOLUMNS, write_jobs_types),
									   w->n, write_jobs_fill, w);
		SupamonRun(&write_jobs, values, NULL);
	}
	else if (w->n > 0)
	{
		values[0] = name;
		values[1] = type;
		values[2] = SupamonTextArray(w->names, NULL, w->n);
		values[3] = SupamonTextArray(w->statuses, NULL, w->n);
		values[4] = SupamonTextArray(w->reasons, NULL, w->n);
		values[5] = InventoryTimeArray(w->next, w->n);
		values[6] = SupamonBoolArray(w->alerted, w->n);
		SupamonRun(&write_statuses, values, NULL);
	}
	if (w->ntransitions > 0)
	{
		values[0] = name;
		values[1] = type;
		values[2] = SupamonTextArray(w->t_names, NULL, w->ntransitions);
		values[3] = SupamonTextArray(w->t_statuses, NULL, w->ntransitions);
		values[4] = SupamonTextArray(w->t_reasons, NULL, w->ntransitions);
		SupamonRun(&insert_transitions, values, NULL);
	}
}

/* An alert of a job, queued once the job's row is written (its details quote it). */
typedef struct JobAlert
{
	char	   *name;
	const char *event;
	char	   *criticality;
	char	   *message;
	const char *status;
	char	   *previous;
	char	   *reason;
	char	   *meaning;
	int64		next_expected;
} JobAlert;

/* A stored time in seconds since 1970, HEALTH_NO_TIME for NULL. */
static int64
stored_seconds(TimestampTz t)
{
	return t == INVENTORY_NO_TIME ? HEALTH_NO_TIME : SupamonUnixSeconds(t);
}

/*
 * Decides every pg_cron job of a reachable project, from its row as the
 * recording left it (recorded: the snapshot's jobs and their run columns,
 * not written yet), then writes what changed and queues the alerts.
 */
static void
check_jobs(const char *project, InventoryRecorded *recorded, int64 now, const SmTimeZone *tz,
		   SmCronVersion version, bool log_run, bool fold_alerts,
		   const Outage *outage, const Silences *silences, int64 central_now,
		   CheckTotals *totals)
{
	InventoryRow *jobs;
	int			njobs;
	StatusWrites writes;
	JobAlert   *alerts;
	int			nalerts = 0;

	/* the rows as the recording left them, unless something wrote them since */
	if (recorded && recorded->rows)
	{
		jobs = recorded->rows;
		njobs = recorded->nrows;
	}
	else
		jobs = InventoryReadJobs(project, &njobs);
	status_writes_init(&writes, "pg_cron", true, njobs);
	alerts = palloc(sizeof(JobAlert) * Max(njobs, 1));

	for (int i = 0; i < njobs; i++)
	{
		InventoryRow *row = &jobs[i];
		HealthInput in;
		HealthResult out;
		SmSchedule	sched;
		char		err[256];
		char	   *name = row->name;
		char	   *schedule = row->schedule;
		char	   *old_status = row->status;
		char	   *criticality = row->criticality;
		char	   *old_reason = row->reason;
		bool		reminder_due = row->reminder_due;
		bool		bad_was_alerted = row->told;
		bool		acked = row->acked;
		bool		removed = row->removed;
		TimestampTz created = row->created;
		InventoryJob *job = recorded ? hash_search(recorded->jobs, &name, HASH_FIND, NULL) : NULL;
		InventoryRuns runs;
		char	   *marks = NULL;
		int64		marked_upto = HEALTH_NO_TIME;
		const char *new_status;
		const char *event = NULL;
		bool		changed;

		CHECK_FOR_INTERRUPTS();

		/*
		 * A job this collection did not see, yet not gone (pg_cron's
		 * row-level security hides it from supamon's role): its runs are
		 * not visible either, so it keeps its last known status rather than
		 * be judged on runs that stopped arriving.
		 */
		if (!removed && job == NULL && recorded != NULL)
		{
			count_as_it_stands(old_status, totals);
			continue;
		}
		/* its run columns as the recording made them, or as they stand */
		runs = job ? job->runs : row->runs;

		memset(&in, 0, sizeof(in));
		in.removed = removed;
		in.tz = tz;
		in.now = now;
		in.log_run = log_run;
		if (schedule && SupamonScheduleParse(schedule, version, &sched, err, sizeof(err)))
			in.schedule = &sched;
		else
			in.schedule_error = schedule ? err : "no schedule";
		in.active = row->active;
		in.known_since = SupamonUnixSeconds(created);
		/* when its latest finished run happened, whatever times it has */
		in.last_finished_start = runs.last_run_status == NULL ? HEALTH_NO_TIME :
			SupamonUnixSeconds(runs.last_run_started_at != INVENTORY_NO_TIME ? runs.last_run_started_at :
							   runs.last_run_ended_at != INVENTORY_NO_TIME ? runs.last_run_ended_at :
							   runs.last_start_at != INVENTORY_NO_TIME ? runs.last_start_at : created);
		in.last_finished_failed = runs.last_run_status != NULL &&
			strcmp(runs.last_run_status, "failed") == 0;
		in.last_error = runs.last_run_message;
		in.last_start = stored_seconds(runs.last_start_at);
		/* a start later than the project's clock is not one it has seen */
		if (in.last_start != HEALTH_NO_TIME && in.last_start > now + FUTURE_SLACK_SECONDS)
			in.last_start = HEALTH_NO_TIME;
		in.running_since = stored_seconds(runs.running_since);
		in.running_status = runs.running_status;
		in.consecutive_failures = runs.consecutive_failures;
		in.failure_threshold = row->failure_threshold;
		in.grace = row->has_grace ? row->grace : HEALTH_NO_TIME;
		in.max_runtime = row->has_max_runtime ? row->max_runtime : HEALTH_NO_TIME;

		/*
		 * pg_cron says "succeeded" once net.http_post() has queued its
		 * request: what the endpoint answered (its latest run told apart)
		 * is the job's real outcome.
		 */
		if (row->http_failing &&
			!in.last_finished_failed && in.last_finished_start != HEALTH_NO_TIME)
		{
			in.last_finished_failed = true;
			in.last_error = row->http_error;
			in.consecutive_failures = Max(in.consecutive_failures, in.failure_threshold);
		}

		health_decide(&in, &out);

		/*
		 * A fire inside a maintenance window was not expected to run: not a
		 * miss, then or afterwards; an earlier fire outside it still is.
		 */
		if (out.status == HEALTH_MISSED && out.missed_fire != HEALTH_NO_TIME)
			excuse_window_misses(&in, &out, silences, name);
		if (out.status == HEALTH_MISSED && out.missed_fire != HEALTH_NO_TIME)
		{
			marks = strip_misses(&in, out.missed_fire, stored_seconds(row->missed_upto),
								 &marked_upto);
			if (marks)
				runs.run_strip = InventoryStripAppend(runs.run_strip, marks);
		}
		/* the reason may quote project text cut to fit: never half a character */
		out.reason[pg_mbcliplen(out.reason, strlen(out.reason), sizeof(out.reason) - 1)] = '\0';
		new_status = health_status_name(out.status);
		changed = strcmp(new_status, old_status) != 0;
		totals->jobs++;
		totals->by_status[out.status]++;

		if (changed && (out.status == HEALTH_FAILED || out.status == HEALTH_MISSED ||
						out.status == HEALTH_STUCK))
			event = new_status;
		else if (changed && out.status == HEALTH_SUCCESS && is_bad(old_status) && bad_was_alerted)
			event = "recovered";	/* only a problem someone was told about */
		else if (!changed && is_bad(new_status) && reminder_due && bad_was_alerted && !acked)
			event = "reminder";

		/*
		 * A fire missed while the project was down: the recovery said so (or
		 * says so now); its status is kept, its alert is not sent.
		 */
		{
			bool		in_outage = out.status == HEALTH_MISSED &&
				missed_only_in_outage(&in, &out, outage);

			if (event && strcmp(event, "missed") == 0 && in_outage)
				event = NULL;

			/*
			 * A problem no one was told about (its alert folded into "scheduler
			 * down", or its miss was the outage's and it still does not run):
			 * told now, as what it is.
			 */
			else if (!event && !changed && is_bad(new_status) && !bad_was_alerted &&
					 !in_outage && !fold_alerts && !acked)
				event = new_status;
		}
		if (outage->misses)
		{
			int64		fire = missed_in_outage(&in, outage);

			/* a fire inside a window, or a job held now, is no news */
			if (fire != HEALTH_NO_TIME && !SilenceAt(silences, name, fire, true, NULL, NULL) &&
				!SilenceAt(silences, name, central_now, false, NULL, NULL))
			{
				char		when[64];

				health_format_time(fire, when, sizeof(when));
				appendStringInfo(outage->misses, "%s%s missed %s",
								 outage->misses->len ? ", " : "", name, when);
			}
		}

		/* silenced: decided and recorded, not told; told after, if still bad */
		if (event && SilenceAt(silences, name, central_now, false, NULL, NULL))
			event = NULL;

		if (event && !fold_alerts)
		{
			JobAlert   *a = &alerts[nalerts++];
			char		meaning[256];

			if (strcmp(event, "recovered") == 0)
				a->message = psprintf("%s/%s recovered (was %s)", project, name, old_status);
			else if (strcmp(event, "reminder") == 0)
				a->message = psprintf("%s/%s is still %s: %s", project, name, new_status, out.reason);
			else
				a->message = psprintf("%s/%s %s: %s", project, name, new_status, out.reason);
			meaning[0] = '\0';
			if (in.schedule)
				sm_describe(in.schedule, meaning, sizeof(meaning));
			a->name = name;
			a->event = event;
			a->criticality = criticality;
			a->status = new_status;
			a->previous = old_status;
			a->reason = pstrdup(out.reason);
			a->meaning = meaning[0] ? pstrdup(meaning) : NULL;
			a->next_expected = out.next_expected;
		}
		else
			event = NULL;

		/* written only when something changed: its runs, its strip, its status */
		if ((job && job->changed) || marks || changed || event ||
			row->next_expected != (out.next_expected == HEALTH_NO_TIME ? INVENTORY_NO_TIME :
						 SupamonFromUnixSeconds(out.next_expected)) ||
			(old_reason == NULL) != (out.reason[0] == '\0') ||
			(old_reason && strcmp(old_reason, out.reason) != 0))
		{
			int			k = status_writes_add(&writes, name, new_status, out.reason,
											  out.next_expected, event != NULL, changed);

			writes.runs[k] = palloc(sizeof(InventoryRuns));
			*writes.runs[k] = runs;
			writes.seen[k] = job && job->changed;
			writes.missed_upto[k] = marks ? SupamonFromUnixSeconds(marked_upto) : INVENTORY_NO_TIME;
			if (job)
				job->written = true;
		}
	}
	status_writes_flush(project, &writes);
	for (int k = 0; k < nalerts; k++)
	{
		JobAlert   *a = &alerts[k];

		totals->alerts += queue_alert(project, "pg_cron", a->name, a->event, a->criticality,
									  a->message, a->status, a->previous, a->reason, a->meaning,
									  a->next_expected, NULL);
	}
}

static SupamonStatement read_statuses = {
	.sql = "SELECT status FROM supamon.job_inventory"
		" WHERE project_name = $1 AND job_type = 'pg_cron'",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * Jobs of an unreachable project keep their last known status; they are
 * counted as they stand.
 */
static void
count_jobs_as_they_stand(const char *project, CheckTotals *totals)
{
	Datum		values[1] = {CStringGetTextDatum(project)};

	SupamonRun(&read_statuses, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		count_as_it_stands(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						   totals);
	}
}

static SupamonStatement read_functions = {
	.sql = "SELECT job_name, removed_at IS NOT NULL, function_status,"
		" requests, server_errors, stats_error, status, criticality,"
		" $2 > 0 AND (last_alerted_at IS NULL OR last_alerted_at <= now() - pg_catalog.make_interval(secs => $2)),"
		" status_reason,"
		" last_alerted_at IS NOT NULL AND last_alerted_at >= status_since,"
		" acked_at IS NOT NULL AND acked_at >= status_since,"
		" extract(epoch FROM now() - stats_at)::int8,"
		" status_reason LIKE '%server error%(%above%)'"
		" FROM supamon.job_inventory WHERE project_name = $1 AND job_type = 'edge_function'"
		" ORDER BY job_name",
	.nargs = 2, .types = {TEXTOID, INT4OID},
	.expect = SPI_OK_SELECT
};

/*
 * Decides every Edge Function of a project from what the Management API
 * said (recorded just before): gone (removed), not ACTIVE (failed), too
 * many 5xx answers among enough recent requests (failed), or fine.  When the
 * API could not be read this check, they keep the status they had.
 */
static void
check_functions(const char *project, bool listed, const char *not_watched, bool fold,
				const Silences *silences, int64 central_now, CheckTotals *totals)
{
	static const char *const windows[] = {"15 minutes", "hour", "3 hours", "day"};
	static const int window_seconds[] = {15 * 60, 3600, 3 * 3600, 24 * 3600};
	const char *window = windows[supamon_edge_stats_interval];
	int			window_secs = window_seconds[supamon_edge_stats_interval];
	Datum		values[2];
	SPITupleTable *rows;
	uint64		nrows;
	StatusWrites writes;

	values[0] = CStringGetTextDatum(project);
	values[1] = Int32GetDatum(supamon_repeat_interval);
	nrows = SupamonRun(&read_functions, values, NULL);
	rows = SPI_tuptable;
	status_writes_init(&writes, "edge_function", false, nrows);
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull,
					null_requests,
					null_errors;
		char	   *name = SPI_getvalue(tup, desc, 1);
		bool		removed = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *fstatus = SPI_getvalue(tup, desc, 3);
		int64		requests = DatumGetInt64(SPI_getbinval(tup, desc, 4, &null_requests));
		int64		errors = DatumGetInt64(SPI_getbinval(tup, desc, 5, &null_errors));
		char	   *stats_error = SPI_getvalue(tup, desc, 6);
		char	   *old_status = SPI_getvalue(tup, desc, 7);
		char	   *criticality = SPI_getvalue(tup, desc, 8);
		bool		reminder_due = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		char	   *old_reason = SPI_getvalue(tup, desc, 10);
		bool		told = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
		bool		acked = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
		bool		no_age;
		int64		stats_age = DatumGetInt64(SPI_getbinval(tup, desc, 13, &no_age));
		bool		failing_rate = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull)) && !isnull &&
			strcmp(old_status, "failed") == 0;
		int			status;
		char		reason[512];
		const char *new_status;
		const char *event = NULL;
		bool		changed;

		CHECK_FOR_INTERRUPTS();

		/*
		 * While the project itself is down, its functions keep their status
		 * (its one alert says it all); what changed is told afterwards.
		 */
		if (fold || (!listed && not_watched == NULL))
		{
			count_as_it_stands(old_status, totals);
			continue;
		}
		if (!listed)
		{
			/* no longer asked about: no status of its can be vouched for */
			status = removed ? HEALTH_REMOVED : HEALTH_UNKNOWN;
			snprintf(reason, sizeof(reason), "%s", removed ? "no longer listed by the Supabase Management API" : not_watched);
		}
		else if (removed)
		{
			status = HEALTH_REMOVED;
			snprintf(reason, sizeof(reason), "no longer listed by the Supabase Management API");
		}
		else if (fstatus == NULL || strcmp(fstatus, "ACTIVE") != 0)
		{
			status = HEALTH_FAILED;
			snprintf(reason, sizeof(reason), "Supabase lists it as %s, not ACTIVE",
					 fstatus ? fstatus : "without a status");
		}
		else if (null_requests || null_errors)
		{
			status = HEALTH_UNKNOWN;
			snprintf(reason, sizeof(reason), "its traffic has not been read yet%s%s",
					 stats_error ? ": " : "", stats_error ? stats_error : "");
		}
		else if (no_age || stats_age > window_secs)
		{
			/*
			 * Figures older than their own window say nothing of now: the
			 * function keeps the status it had until its turn to be read
			 * comes (many functions are read in turns) or the API answers.
			 */
			count_as_it_stands(old_status, totals);
			continue;
		}

		/*
		 * Failed above the rate; recovered only at half of it, so that a
		 * function hovering near the limit does not alert every check.
		 */
		else if (requests >= supamon_edge_min_requests &&
				 (double) errors > supamon_edge_error_rate * (failing_rate ? 0.5 : 1.0) * (double) requests)
		{
			status = HEALTH_FAILED;
			snprintf(reason, sizeof(reason),
					 "%lld of its %lld requests in the last %s answered with a server error (%.0f%%, above %.0f%%%s)",
					 (long long) errors, (long long) requests, window,
					 100.0 * (double) errors / (double) requests,
					 100.0 * supamon_edge_error_rate * (failing_rate ? 0.5 : 1.0),
					 failing_rate ? ": it recovers at half the failing rate" : "");
		}
		else
		{
			status = HEALTH_SUCCESS;
			snprintf(reason, sizeof(reason),
					 "%lld request(s) in the last %s, %lld answered with a server error%s",
					 (long long) requests, window, (long long) errors,
					 requests < supamon_edge_min_requests && errors > 0 ?
					 " (too few requests to judge)" : "");
		}
		/* the reason may quote the API's words cut to fit: never half a character */
		reason[pg_mbcliplen(reason, strlen(reason), sizeof(reason) - 1)] = '\0';
		new_status = health_status_name(status);
		changed = strcmp(new_status, old_status) != 0;
		totals->jobs++;
		totals->by_status[status]++;

		if (changed && (status == HEALTH_FAILED || status == HEALTH_REMOVED))
			event = new_status;
		else if (changed && status == HEALTH_SUCCESS && is_bad(old_status) && told)
			event = "recovered";
		else if (!changed && status == HEALTH_FAILED && !acked && (reminder_due || !told))
			event = told ? "reminder" : new_status;
		if (event && SilenceAt(silences, name, central_now, false, NULL, NULL))
			event = NULL;
		if (event)
		{
			char	   *message;

			if (strcmp(event, "recovered") == 0)
				message = psprintf("%s/%s (Edge Function) recovered (was %s): %s",
								   project, name, old_status, reason);
			else if (strcmp(event, "reminder") == 0)
				message = psprintf("%s/%s (Edge Function) is still %s: %s",
								   project, name, new_status, reason);
			else
				message = psprintf("%s/%s (Edge Function) %s: %s", project, name, new_status, reason);
			totals->alerts += queue_alert(project, "edge_function", name, event, criticality,
										  message, new_status, old_status, reason, NULL,
										  HEALTH_NO_TIME, NULL);
		}
		if (changed || event || old_reason == NULL || strcmp(old_reason, reason) != 0)
			status_writes_add(&writes, name, new_status, reason, HEALTH_NO_TIME,
							  event != NULL, changed);
	}
	status_writes_flush(project, &writes);
}

/*
 * Why a project's Edge Functions are not watched at all (no token, no ref
 * any more), or NULL when they are (even if the API failed this check).
 */
static const char *
edge_not_watched(const ProjectSnapshot *snap)
{
	if (snap->edge.asked || snap->edge.rate_limited)
		return NULL;
	if (snap->project->supabase_ref == NULL)
		return "not watched: the project has no supabase_ref";
	return "not watched: supamon.supabase_access_token is not set";
}

static SupamonStatement update_edge_refusal = {
	.sql = "UPDATE supamon.project SET edge_refusal_alerted = $2 WHERE name = $1",
	.nargs = 2, .types = {TEXTOID, BOOLOID},
	.expect = SPI_OK_UPDATE
};

/*
 * The Management API refusing supamon (a bad or revoked token, an unknown
 * ref, a bad setting) is one project problem, told once; and once when the
 * Edge Functions can be read again.
 */
static void
check_edge_refusal(const char *name, const EdgeSnapshot *edge, bool alerted,
				   CheckTotals *totals)
{
	bool		now_alerted = alerted;
	Datum		values[2];

	if (edge->refused && !alerted)
	{
		totals->alerts += queue_alert(name, "edge_function", NULL, "api_refused",
									  project_criticality(name),
									  psprintf("project %s: its Edge Functions cannot be read: %s",
											   name, edge->error ? edge->error : "refused"),
									  "api_refused", NULL, edge->error, NULL, HEALTH_NO_TIME, NULL);
		now_alerted = true;
	}
	else if (edge->ok && alerted)
	{
		totals->alerts += queue_alert(name, "edge_function", NULL, "recovered",
									  project_criticality(name),
									  psprintf("project %s: its Edge Functions can be read again", name),
									  "ok", "api_refused", NULL, NULL, HEALTH_NO_TIME, NULL);
		now_alerted = false;
	}
	if (now_alerted == alerted)
		return;
	values[0] = CStringGetTextDatum(name);
	values[1] = BoolGetDatum(now_alerted);
	SupamonRun(&update_edge_refusal, values, NULL);
}

static SupamonStatement read_project = {
	.sql = "SELECT " PROJECT_FACTS_COLUMNS("$2") " FROM supamon.project WHERE name = $1",
	.nargs = 2, .types = {TEXTOID, INT4OID},
	.expect = SPI_OK_SELECT
};

static void
decide_project(ProjectSnapshot *snap, CheckTotals *totals)
{
	const char *name = snap->project->name;
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull,
				reachable,
				scheduler_known,
				scheduler_running = false,
				log_run,
				reminder_due;
	char	   *old_status,
			   *old_note,
			   *last_error,
			   *tzname,
			   *version_text,
			   *status;
	int64		now;
	SmTimeZone	tz;
	SmCronVersion version = SM_PGCRON_NEWEST;
	StringInfoData note;
	Datum		d;
	int64		old_since;
	int64		central_now;
	Outage		outage;
	char	   *recovery;
	Silences   *silences;
	bool		project_told;
	const char *paused_as;
	bool		edge_refusal_alerted;

	/* the row as the recording left it, or read */
	if (snap->facts)
	{
		tup = snap->facts;
		desc = snap->facts_desc;
	}
	else
	{
		values[0] = CStringGetTextDatum(name);
		values[1] = Int32GetDatum(supamon_repeat_interval);
		if (SupamonRun(&read_project, values, NULL) != 1)
			elog(ERROR, "supamon: project \"%s\" vanished during the check", name);
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
	}
	d = SPI_getbinval(tup, desc, 1, &isnull);
	reachable = !isnull && DatumGetBool(d);
	d = SPI_getbinval(tup, desc, 2, &isnull);
	scheduler_known = !isnull;
	if (!isnull)
		scheduler_running = DatumGetBool(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	now = isnull ? SupamonUnixSeconds(GetCurrentTimestamp()) : SupamonUnixSeconds(DatumGetTimestampTz(d));
	tzname = SPI_getvalue(tup, desc, 4);
	version_text = SPI_getvalue(tup, desc, 5);
	log_run = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	old_status = SPI_getvalue(tup, desc, 7);
	last_error = SPI_getvalue(tup, desc, 8);
	reminder_due = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
	d = SPI_getbinval(tup, desc, 14, &isnull);
	/* a status with no since (a row from before 0.4.0) counts as told */
	project_told = isnull || DatumGetBool(d);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	old_since = isnull ? HEALTH_NO_TIME : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 11, &isnull);
	outage.from = isnull ? HEALTH_NO_TIME : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 12, &isnull);
	outage.until = isnull ? HEALTH_NO_TIME : DatumGetInt64(d);
	central_now = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
	outage.misses = NULL;
	/* a database that does not answer because Supabase paused the project */
	/* only what the API said this check: a stored word may be days old */
	paused_as = snap->edge.project_status;
	if (reachable || !EdgeProjectIsPaused(paused_as))
		paused_as = NULL;
	if (!reachable && paused_as == NULL && snap->edge.project_status &&
		strcmp(snap->edge.project_status, "ACTIVE_HEALTHY") != 0 && last_error)
		last_error = psprintf("%s (Supabase says the project is %s)", last_error,
							  snap->edge.project_status);
	edge_refusal_alerted = DatumGetBool(SPI_getbinval(tup, desc, 16, &isnull));
	old_note = SPI_getvalue(tup, desc, 17);

	initStringInfo(&note);
	if (reachable)
	{
		bool		tz_ok = false;

		if (version_text == NULL)
		{
			version = SM_PGCRON_NEWEST;
			appendStringInfoString(&note, "pg_cron's version is not visible: assuming the newest pg_cron syntax. ");
		}
		else if (!sm_parse_version(version_text, &version))
		{
			version = SM_PGCRON_NEWEST;
			appendStringInfo(&note, "pg_cron %s is not a version supamon knows: assuming the newest syntax it knows (%s). ",
							 version_text, sm_version_name(SM_PGCRON_NEWEST));
		}
		if (snap->rls_active)
			appendStringInfo(&note, "pg_cron's row-level security shows role %s only its own jobs: "
							 "connect as a role that owns the jobs or bypasses row-level security (such as postgres). ",
							 snap->role ? snap->role : "?");
		if (snap->runs_truncated)
			appendStringInfo(&note, "more than %d new runs: the rest are read by the next check. ",
							 COLLECT_MAX_RUNS);
		if (snap->future_times > 0)
			appendStringInfo(&note, "%d run time(s) later than the project's clock ignored. ",
							 snap->future_times);
		if (snap->pg_net_error)
			appendStringInfo(&note, "pg_net's responses could not be recorded: %s. ", snap->pg_net_error);
		if (snap->responses_truncated)
			appendStringInfoString(&note, "more pg_net responses than supamon reads at once: no pg_net run judged this check. ");
		if (snap->ignored_runs > 0)
			appendStringInfo(&note, "%d run(s) without a job, a runid or a known status ignored. ",
							 snap->ignored_runs);
		if (tzname && snap->ok && snap->cron_timezone == NULL && version >= SM_PGCRON_1_5)
			appendStringInfo(&note, "cron.timezone is not visible to supamon's role (it needs pg_read_all_settings): using %s, seen before. ",
							 tzname);
		if (tzname)
		{
			tz_ok = SupamonLookupTimeZone(tzname, &tz);
			if (!tz_ok)
				appendStringInfo(&note, "cron.timezone \"%s\" is not a zone PostgreSQL knows: using GMT. ", tzname);
		}
		else if (version >= SM_PGCRON_1_5)
			appendStringInfoString(&note, "cron.timezone is not visible to supamon's role (it needs pg_read_all_settings): using GMT. ");
		if (!tz_ok)
			SupamonLookupTimeZone("GMT", &tz);
		if (!scheduler_known)
			appendStringInfoString(&note, "the pg_cron scheduler is not visible to supamon's role (it needs pg_read_all_stats). ");
	}

	silences = SilencesLoad(name, GetCurrentTransactionStartTimestamp());
	status = check_project_status(name, reachable, paused_as, scheduler_known, scheduler_running,
								  last_error, old_status, old_since != HEALTH_NO_TIME, old_note,
								  reminder_due, project_told,
								  note.len ? note.data : NULL,
								  SilenceAt(silences, NULL, central_now, false, NULL, NULL) != NULL,
								  &recovery, totals);
	if (recovery)
	{
		/* the outage that ends now */
		outage.from = old_since != HEALTH_NO_TIME ? old_since : central_now;
		outage.until = central_now;
		outage.misses = makeStringInfo();
	}
	/* the outage was timed on the central clock; runs are on the project's */
	if (outage.from != HEALTH_NO_TIME && reachable)
	{
		outage.from += now - central_now;
		outage.until += now - central_now;
	}
	if (reachable)
		check_jobs(name, snap->recorded, now, &tz, version, log_run,
				   strcmp(status, "scheduler_down") == 0, &outage, silences, central_now, totals);
	else
		count_jobs_as_they_stand(name, totals);
	check_functions(name, snap->edge.ok, edge_not_watched(snap),
					strcmp(status, "unreachable") == 0 || strcmp(status, "paused") == 0,
					silences, central_now, totals);
	check_edge_refusal(name, &snap->edge, edge_refusal_alerted, totals);
	if (recovery)
	{
		const char *during = outage.misses->len ? outage.misses->data : NULL;

		totals->alerts += queue_alert(name, "pg_cron", NULL, "recovered", project_criticality(name),
									  during ? psprintf("%s; during the outage %s", recovery, during) : recovery,
									  status, old_status, NULL, NULL, HEALTH_NO_TIME, during);
	}
}

/*
 * The hook AuditAll calls for each project, in that project's
 * subtransaction: its totals count only once it has been decided whole.
 */
static void
check_project(ProjectSnapshot *snap, void *arg)
{
	CheckTotals *totals = arg;
	CheckTotals mine;

	memset(&mine, 0, sizeof(mine));
	decide_project(snap, &mine);
	totals->jobs += mine.jobs;
	for (int s = 0; s <= HEALTH_REMOVED; s++)
		totals->by_status[s] += mine.by_status[s];
	totals->unreachable += mine.unreachable;
	totals->scheduler_down += mine.scheduler_down;
	totals->paused += mine.paused;
	totals->alerts += mine.alerts;
}

static void
deliver_now(void *arg)
{
	DeliverNow((DeliverCounts *) arg);
}

/* A cancel or a shutdown ends the check; any other delivery error does not. */
static bool
delivery_must_stop(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION;
}

/*
 * supamon_check_health(project text DEFAULT NULL) RETURNS jsonb
 */
Datum
supamon_check_health(PG_FUNCTION_ARGS)
{
	char	   *only = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext caller = CurrentMemoryContext;
	volatile Datum result = (Datum) 0;

	WatchCheckBegins(only);
	PG_TRY();
	{
		result = check_health(only);
	}
	PG_CATCH();
	{
		/* what ended it, for supamon.check_status (the rollback erases the rest) */
		ErrorData  *e;

		MemoryContextSwitchTo(caller);
		e = CopyErrorData();
		WatchCheckRaises(e->message);
		FreeErrorData(e);
		PG_RE_THROW();
	}
	PG_END_TRY();
	WatchCheckReturns();
	PG_RETURN_DATUM(result);
}

static SupamonStatement purge_log = {
	.sql = "DELETE FROM supamon.job_health_log"
		" WHERE collected_at < now() - pg_catalog.make_interval(mins => $1)",
	.nargs = 1, .types = {INT4OID},
	.expect = SPI_OK_DELETE
};

static SupamonStatement read_clock = {
	.sql = "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
	.expect = SPI_OK_SELECT
};

static Datum
check_health(const char *only)
{
	InventoryCounts *counts;
	CheckTotals totals;
	int			n;
	char	   *json;
	MemoryContext caller = CurrentMemoryContext;

	memset(&totals, 0, sizeof(totals));
	SPI_connect();
	SilencesPrepare(GetCurrentTransactionStartTimestamp());
	PG_TRY();
	{
		/* the totals are the hook's: the snapshots are not needed after */
		(void) AuditAll(only, check_project, &totals, sizeof(totals), &n, &counts);
	}
	PG_FINALLY();
	{
		SilencesForget();
	}
	PG_END_TRY();

	/* the history is bounded by retention */
	{
		Datum		values[1] = {Int32GetDatum(supamon_log_retention)};

		SupamonRun(&purge_log, values, NULL);
	}

	SupamonRun(&read_clock, NULL, NULL);
	json = MemoryContextStrdup(caller, psprintf("{\"total_jobs\": %d, \"healthy\": %d, \"failed\": %d, \"missed\": %d,"
					" \"stuck\": %d, \"unknown\": %d, \"paused\": %d, \"removed\": %d,"
					" \"unreachable_projects\": %d, \"scheduler_down_projects\": %d, \"paused_projects\": %d,"
					" \"alerts_queued\": %d, \"checked_at\": \"%s\"}",
					totals.jobs, totals.by_status[HEALTH_SUCCESS],
					totals.by_status[HEALTH_FAILED], totals.by_status[HEALTH_MISSED],
					totals.by_status[HEALTH_STUCK], totals.by_status[HEALTH_UNKNOWN],
					totals.by_status[HEALTH_PAUSED], totals.by_status[HEALTH_REMOVED],
					totals.unreachable, totals.scheduler_down, totals.paused, totals.alerts,
					SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)));

	/* without a worker for this database, what is due leaves now */
	if (!SupamonWorkerDelivers())
	{
		DeliverCounts sent;
		ErrorData  *failed;

		memset(&sent, 0, sizeof(sent));
		/* a delivery that fails is a warning; the check's decisions stand */
		failed = SupamonSubtransaction(deliver_now, &sent, delivery_must_stop);
		if (failed)
			ereport(WARNING,
					(errmsg("supamon: could not deliver alerts: %s", failed->message),
					 errdetail("They stay in supamon.alert_outbox for the next check.")));
		else if (sent.sent + sent.retrying + sent.dead > 0)
			ereport(NOTICE,
					(errmsg("supamon: delivered alerts itself: %d sent in %d message(s), %d to retry, %d dead",
							sent.sent, sent.messages, sent.retrying, sent.dead),
					 errdetail("No supamon worker delivers for this database: supamon is not in shared_preload_libraries, supamon.database is another database, or the worker was terminated.")));
	}
	SPI_finish();
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}
