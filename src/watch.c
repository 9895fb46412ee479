/*
 * watch.c
 *		Watching the watcher.
 *
 * A monitor that stops is worse than none: its silence reads as "all is
 * well".  So each check leaves a trace in shared memory when its transaction
 * ends, committed or not (a check that raised rolled its own writes back:
 * only shared memory can still say it ran and why it failed), and the
 * worker, which lives on when checks do not, tells the channels:
 *
 *	- once, when no check has completed for supamon.stale_after (the
 *	  scheduler is dead, or every check raises), and once when one completes
 *	  again (state in supamon.watch, so a restart neither repeats nor
 *	  forgets it);
 *	- a summary on supamon.summary_schedule, so that silence never means a
 *	  broken monitor;
 *	- and pings supamon.heartbeat_url after every completed check, so that an
 *	  outside service notices when the central database itself is gone.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "alert_text.h"
#include "deliver.h"
#include "health.h"
#include "http.h"
#include "schedule_sql.h"
#include "supamon.h"
#include "watch.h"

PG_FUNCTION_INFO_V1(supamon_check_state);
PGDLLEXPORT void supamon_ping_main(Datum main_arg);

/*
 * This backend's checks.  A check runs in some subtransaction (a PL/pgSQL
 * block, a savepoint) or in the top transaction; its work is kept only if
 * that subtransaction, and every one above it, commits.  So a check that
 * returned is remembered with the subtransaction it ran in; when that one
 * is released, it moves to the parent; when it is rolled back, the check's
 * work is gone (raised); when the top transaction commits, it completed.
 * Its own per-project subtransactions are below it and never match.
 */
#define MAX_PENDING 32

typedef struct PendingChecks
{
	SubTransactionId subid;
	int			n;
} PendingChecks;

static PendingChecks pending[MAX_PENDING];
static int	npending = 0;
static bool check_running = false;
static SubTransactionId running_subid;
static TimestampTz check_started;
static int64 check_us;			/* the last returned check's duration */
static bool check_all;
static char check_only[NAMEDATALEN * 2];
static char check_error[WATCH_TEXT];
static bool callbacks_registered = false;

static void ping_after_commit(void);

/* Whether the worker's look queued messages (then claimed at once). */
static bool watch_queued = false;

static void
forget_checks(void)
{
	check_running = false;
	npending = 0;
	check_error[0] = '\0';
}

/* s cut to fit len bytes, never inside a character */
static void
copy_clipped(char *dst, const char *src, size_t len)
{
	int			n = pg_mbcliplen(src, strlen(src), (int) len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
record_raised(const char *why)
{
	WatchShared *w = SupamonWatchShared();
	TimestampTz now = GetCurrentTimestamp();

	if (w == NULL)
		return;
	SpinLockAcquire(&w->mutex);
	w->raised_at = now;
	w->raised_us = now - check_started;
	w->raised_all = check_all;
	w->raised_db = MyDatabaseId;
	copy_clipped(w->raised_project, check_only, sizeof(w->raised_project));
	copy_clipped(w->raised_error, why, sizeof(w->raised_error));
	SpinLockRelease(&w->mutex);
}

static void
record_completed(int n)
{
	WatchShared *w = SupamonWatchShared();

	if (w == NULL)
		return;
	SpinLockAcquire(&w->mutex);
	w->completed_at = GetCurrentTimestamp();
	w->completed_us = check_us;
	w->completed += n;
	SpinLockRelease(&w->mutex);
	/* the heartbeat and a stale alert's recovery wait for this */
	SupamonWakeWorker();
}

static int
pending_total(void)
{
	int			n = 0;

	for (int i = 0; i < npending; i++)
		n += pending[i].n;
	return n;
}

static void
watch_xact_callback(XactEvent event, void *arg)
{
	int			n;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			n = pending_total();
			forget_checks();
			if (n > 0)
			{
				record_completed(n);
				/* without a worker to ping after the commit, this backend does */
				if (!SupamonWorkerRuns())
					ping_after_commit();
			}
			break;
		case XACT_EVENT_PREPARE:
			/* its fate is decided later, maybe elsewhere: neither told */
			forget_checks();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (check_running)
				record_raised(check_error[0] ? check_error : "its transaction was rolled back");
			else if (npending > 0)
				record_raised("it returned, but the transaction that called it was rolled back");
			forget_checks();
			break;
		default:
			break;
	}
}

static void
watch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* released: what returned in it now lives or dies with the parent */
		for (i = 0; i < npending; i++)
			if (pending[i].subid == mySubid)
				break;
		if (i == npending)
			return;
		for (int j = 0; j < npending; j++)
			if (j != i && pending[j].subid == parentSubid)
			{
				pending[j].n += pending[i].n;
				pending[i] = pending[--npending];
				return;
			}
		pending[i].subid = parentSubid;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		bool		told = false;

		/* the check that raised is the news, not those its block takes along */
		if (check_running && mySubid == running_subid)
		{
			record_raised(check_error[0] ? check_error : "it raised an error");
			check_running = false;
			check_error[0] = '\0';
			told = true;
		}
		for (i = 0; i < npending; i++)
			if (pending[i].subid == mySubid)
			{
				if (!told)
					record_raised("it returned, but the subtransaction that called it was rolled back");
				pending[i] = pending[--npending];
				break;
			}
	}
}

void
WatchCheckBegins(const char *only)
{
	WatchShared *w = SupamonWatchShared();

	if (!callbacks_registered)
	{
		RegisterXactCallback(watch_xact_callback, NULL);
		RegisterSubXactCallback(watch_subxact_callback, NULL);
		callbacks_registered = true;
	}
	check_running = true;
	running_subid = GetCurrentSubTransactionId();
	check_started = GetCurrentTimestamp();
	check_all = only == NULL;
	copy_clipped(check_only, only ? only : "", sizeof(check_only));
	check_error[0] = '\0';
	if (w)
	{
		SpinLockAcquire(&w->mutex);
		w->started_at = check_started;
		w->started_pid = MyProcPid;
		w->started_db = MyDatabaseId;
		SpinLockRelease(&w->mutex);
	}
}

/* The error that ends the check, kept for the record of its rollback. */
void
WatchCheckRaises(const char *message)
{
	if (check_running)
		copy_clipped(check_error, message ? message : "an error", sizeof(check_error));
}

void
WatchCheckReturns(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	int			i;

	if (!check_running)
		return;
	check_running = false;
	check_us = GetCurrentTimestamp() - check_started;
	for (i = 0; i < npending; i++)
		if (pending[i].subid == subid)
		{
			pending[i].n++;
			return;
		}
	if (npending == MAX_PENDING)
	{
		/* deeper than anyone nests: counted with the outermost (the lowest id) */
		int			outer = 0;

		for (i = 1; i < npending; i++)
			if (pending[i].subid < pending[outer].subid)
				outer = i;
		pending[outer].n++;
		return;
	}
	pending[npending].subid = subid;
	pending[npending].n = 1;
	npending++;
}

/* ---------- the heartbeat ---------- */

/*
 * Whether supamon.heartbeat_url may be called; if not, why ("not called:
 * ..."), in words that never quote it.
 */
bool
WatchHeartbeatUsable(char *why, size_t len)
{
	char		err[256];
	const char *problem;

	if (!at_check_url(supamon_heartbeat_url, err, sizeof(err)))
	{
		snprintf(why, len, "not called: %s", err);
		return false;
	}
	problem = DeliverClearTextProblem(supamon_heartbeat_url);
	if (problem)
	{
		snprintf(why, len, "not called: %s", problem);
		return false;
	}
	return true;
}

/*
 * Without a worker, a check's commit starts a short-lived background
 * process that pings supamon.heartbeat_url and exits: nothing may fail or
 * wait inside a commit (interrupts are held, locks still taken), and the
 * ping must follow the commit, not precede it.  Registering one takes a
 * free slot of max_worker_processes; without one, the ping is skipped and
 * logged.  The process reads the URL from the server's configuration, as
 * every process does (it is a setting of the file).
 */
static void
ping_after_commit(void)
{
	BackgroundWorker w;

	if (supamon_heartbeat_url == NULL || supamon_heartbeat_url[0] == '\0')
		return;
	SupamonWorkerStruct(&w, BGWORKER_SHMEM_ACCESS, "supamon_ping_main", "supamon heartbeat");
	/* no handle: nothing may be allocated inside a commit */
	if (!RegisterDynamicBackgroundWorker(&w, NULL))
		ereport(LOG,
				(errmsg("supamon: the heartbeat URL was not called: no free background worker slot (max_worker_processes)")));
}

/* The heartbeat process: one GET, within supamon.http_timeout, then gone. */
void
supamon_ping_main(Datum main_arg)
{
	HttpClient *http;
	HttpRequest req;
	char		problem[256];

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (supamon_heartbeat_url == NULL || supamon_heartbeat_url[0] == '\0')
		proc_exit(0);
	if (!WatchHeartbeatUsable(problem, sizeof(problem)))
	{
		ereport(LOG, (errmsg("supamon: the heartbeat URL was %s", problem)));
		proc_exit(0);
	}
	memset(&req, 0, sizeof(req));
	req.url = supamon_heartbeat_url;
	/* curl may open two sockets for one request (happy eyeballs) */
	http = HttpClientCreate(4);
	HttpStart(http, &req, supamon_http_timeout);
	while (!req.done)
	{
		if (HttpWait(http, 1000))
			CHECK_FOR_INTERRUPTS();
		(void) HttpNextDone(http);
	}
	if (req.result != CURLE_OK)
		ereport(LOG,
				(errmsg("supamon: the heartbeat URL could not be called: %s",
						curl_easy_strerror(req.result))));
	else if (req.status < 200 || req.status > 299)
		ereport(LOG,
				(errmsg("supamon: the heartbeat URL answered HTTP %ld", req.status)));
	HttpClientDestroy(http);
	proc_exit(0);
}

static SupamonStatement insert_message = {
	.sql = "INSERT INTO supamon.alert_outbox (channel_id, channel, via_setting,"
		"  event, criticality, message, details)"
		" SELECT t.id, t.channel, t.via_setting, $1, $2, $3,"
		"   jsonb_strip_nulls(jsonb_build_object('project', 'supamon', 'event', $1,"
		"     'reason', $3, 'criticality', $2))"
		" FROM (SELECT c.id, c.channel, false AS via_setting FROM supamon.alert_config c"
		"       WHERE c.enabled"
		"       UNION ALL"
		"       SELECT NULL, 'discord', true WHERE $4 AND NOT EXISTS"
		"         (SELECT FROM supamon.alert_config WHERE channel = 'discord' AND enabled)"
		"       UNION ALL"
		"       SELECT NULL, 'telegram', true WHERE $5 AND NOT EXISTS"
		"         (SELECT FROM supamon.alert_config WHERE channel = 'telegram' AND enabled)) t",
	.nargs = 5, .types = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID},
	.expect = SPI_OK_INSERT
};

/* ---------- the worker's side ---------- */

/*
 * Queues one message for every enabled channel, whatever its criticality
 * filter, and for the settings' channels where alert_config has none of
 * their kind: watching the watcher is every channel's business.
 */
static int
queue_for_every_channel(const char *event, const char *criticality, const char *message)
{
	Datum		values[5];
	char		nulls[6] = "     ";

	values[0] = CStringGetTextDatum(event);
	values[1] = criticality ? CStringGetTextDatum(criticality) : (Datum) 0;
	nulls[1] = criticality ? ' ' : 'n';
	values[2] = CStringGetTextDatum(message);
	values[3] = BoolGetDatum(supamon_discord_webhook_url && supamon_discord_webhook_url[0]);
	values[4] = BoolGetDatum(supamon_telegram_bot_token && supamon_telegram_bot_token[0] &&
							 supamon_telegram_chat_id && supamon_telegram_chat_id[0]);
	SupamonRun(&insert_message, values, nulls);
	if (SPI_processed > 0)
		watch_queued = true;
	return (int) SPI_processed;
}

static void
format_ts(TimestampTz t, char *buf, size_t len)
{
	health_format_time(SupamonUnixSeconds(t), buf, len);
}

/* "5 min", "2 h 3 min": a wait, to the second. */
static void
format_span(TimestampTz from, TimestampTz to, char *buf, size_t len)
{
	health_format_duration(to > from ? (to - from) / USECS_PER_SEC : 0, buf, len);
}

/*
 * What the stale alert can say of the checks since the last one that
 * completed: one raised, one is still running, or none started.
 */
static void
why_stale(StringInfo msg, TimestampTz last)
{
	WatchShared *w = SupamonWatchShared();
	WatchShared copy;
	char		when[64];

	if (w == NULL)
		return;
	SpinLockAcquire(&w->mutex);
	memcpy(&copy, w, sizeof(copy));
	SpinLockRelease(&w->mutex);
	/* checks of another database's supamon are not this one's news */
	if (copy.raised_at > last && copy.raised_at >= copy.started_at && copy.raised_db == MyDatabaseId)
	{
		format_ts(copy.raised_at, when, sizeof(when));
		appendStringInfo(msg, " The last check raised an error at %s: %s", when,
						 SupamonCleanText(copy.raised_error, 300));
	}
	else if (copy.started_at > last && copy.started_at > copy.completed_at && copy.started_db == MyDatabaseId)
	{
		format_ts(copy.started_at, when, sizeof(when));
		appendStringInfo(msg, " A check started at %s (process %d) has not finished.", when,
						 copy.started_pid);
	}
	else
		appendStringInfoString(msg, " No check has started since: is its pg_cron job"
							   " scheduled and pg_cron running (SELECT supamon_schedule())?");
}

static SupamonStatement restore_watch = {
	.sql = "INSERT INTO supamon.watch DEFAULT VALUES ON CONFLICT DO NOTHING",
	.expect = SPI_OK_INSERT
};

/* supamon.watch lost its row (deleted by hand): the next look starts afresh. */
static void
restore_watch_row(void)
{
	SupamonRun(&restore_watch, NULL, NULL);
}

static SupamonStatement read_last_checks = {
	.sql = "SELECT (SELECT max(last_check_at) FROM supamon.project WHERE enabled),"
		"   (SELECT max(created_at) FROM supamon.project WHERE enabled),"
		"   (SELECT count(*) FROM supamon.project WHERE enabled),"
		"   w.stale_since"
		" FROM supamon.watch w",
	.expect = SPI_OK_SELECT
};

static SupamonStatement update_not_stale = {
	.sql = "UPDATE supamon.watch SET stale_since = NULL, stale_told_at = NULL",
	.expect = SPI_OK_UPDATE
};

static SupamonStatement update_stale = {
	.sql = "UPDATE supamon.watch SET stale_since = $1, stale_told_at = now()",
	.nargs = 1, .types = {TIMESTAMPTZOID},
	.expect = SPI_OK_UPDATE
};

static void
stale_step(TimestampTz now, TimestampTz worker_started)
{
	bool		isnull;
	TimestampTz last = 0;
	TimestampTz registered = 0;
	TimestampTz told_since = 0;
	bool		has_last,
				told;
	int64		projects;
	HeapTuple	tup;
	TupleDesc	desc;
	StringInfoData msg;
	char		a[64],
				b[64];

	/* no row lock: only the worker writes it, and a lock every look would write the page */
	SupamonRun(&read_last_checks, NULL, NULL);
	if (SPI_processed == 0)
	{
		restore_watch_row();
		return;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	last = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
	has_last = !isnull;
	if (isnull)
		last = 0;
	registered = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
	if (isnull)
		registered = 0;
	projects = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	told_since = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	told = !isnull;

	if (told)
	{
		/* a check completed after the one the alert named, or nothing left to watch */
		if (projects > 0 && !(has_last && last > told_since))
			return;
		if (projects > 0)
		{
			initStringInfo(&msg);
			format_ts(last, a, sizeof(a));
			format_span(told_since, last, b, sizeof(b));
			appendStringInfo(&msg, "supamon completed a check again at %s, after %s without one.", a, b);
			queue_for_every_channel("recovered", "critical", msg.data);
			SupamonWakeWorkerAtCommit();
		}
		SupamonRun(&update_not_stale, NULL, NULL);
		return;
	}
	if (projects == 0 || supamon_stale_after <= 0)
		return;

	/*
	 * The clock runs from the last completed check, or from the newest
	 * registration when none completed; and never from before this worker
	 * started: a server that was down for an hour gets its scheduler's first
	 * minutes before anyone is told.
	 */
	{
		TimestampTz since = has_last ? last : registered;
		TimestampTz from = Max(since, worker_started);

		if (now - from < (int64) supamon_stale_after * USECS_PER_SEC)
			return;
		initStringInfo(&msg);
		format_ts(since, a, sizeof(a));
		format_span(since, now, b, sizeof(b));
		if (has_last)
			appendStringInfo(&msg, "supamon has not completed a check since %s (%s ago).", a, b);
		else
			appendStringInfo(&msg, "supamon has not completed a check since its projects were registered (%s, %s ago).",
							 a, b);
		why_stale(&msg, since);
		appendStringInfoString(&msg, " Until checks complete again, no job problem is noticed.");
		/* no channel yet: not told, so told once there is one */
		if (queue_for_every_channel("stale", "critical", msg.data) == 0)
			return;
		SupamonWakeWorkerAtCommit();
		{
			Datum		values[1] = {TimestampTzGetDatum(since)};

			SupamonRun(&update_stale, values, NULL);
		}
	}
}

/* ---------- the summary ---------- */

static const char *
status_label(const char *status)
{
	return strcmp(status, "success") == 0 ? "healthy" :
		strcmp(status, "scheduler_down") == 0 ? "scheduler down" : status;
}

static SupamonStatement read_counts = {
	.sql = "SELECT status, count(*) FROM supamon.job_status WHERE status <> 'removed'"
		" GROUP BY status ORDER BY count(*) DESC, status",
	.expect = SPI_OK_SELECT
};

static SupamonStatement read_bad_projects = {
	.sql = "SELECT name, status FROM supamon.project WHERE enabled AND status <> 'ok'"
		" ORDER BY name LIMIT 6",
	.expect = SPI_OK_SELECT
};

static SupamonStatement read_bad_jobs = {
	.sql = "SELECT project, name, status,"
		"   to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"'),"
		"   count(*) OVER ()"
		" FROM supamon.job_status WHERE status NOT IN ('success', 'paused', 'removed')"
		" ORDER BY CASE criticality WHEN 'critical' THEN 0 WHEN 'important' THEN 1 ELSE 2 END,"
		"   since, project, name LIMIT 12",
	.expect = SPI_OK_SELECT
};

/*
 * The summary: counts by status, the projects that are not fine and the
 * jobs that are not healthy, worst first; short enough for any channel
 * (Telegram shows 1,000 characters of a reason, Discord 1,500).
 */
static char *
summary_text(void)
{
	StringInfoData msg;
	uint64		n;
	int64		total = 0;
	const char *sep = ": ";

	initStringInfo(&msg);
	n = SupamonRun(&read_counts, NULL, NULL);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		total += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	appendStringInfo(&msg, "%lld job%s", (long long) total, total == 1 ? "" : "s");
	for (uint64 i = 0; i < n; i++)
	{
		appendStringInfo(&msg, "%s%s %s", sep, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
						 status_label(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		sep = ", ";
	}
	appendStringInfoChar(&msg, '.');

	SupamonRun(&read_bad_projects, NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&msg, "%sproject %s is %s", i == 0 ? "\n" : "; ",
						 SupamonCleanText(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), 60),
						 status_label(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
	if (SPI_processed > 0)
		appendStringInfoChar(&msg, '.');

	if (SupamonRun(&read_bad_jobs, NULL, NULL) == 0)
		appendStringInfoString(&msg, "\nEvery job that is not paused is healthy.");
	else
	{
		bool		isnull;
		int64		bad = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
		uint64		shown = 0;

		appendStringInfoString(&msg, "\nNot healthy:");
		for (uint64 i = 0; i < SPI_processed && msg.len < 700; i++, shown++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			char	   *since = SPI_getvalue(t, d, 4);

			appendStringInfo(&msg, "\n- %s/%s: %s%s%s",
							 SupamonCleanText(SPI_getvalue(t, d, 1), 40),
							 SupamonCleanText(SPI_getvalue(t, d, 2), 60),
							 status_label(SPI_getvalue(t, d, 3)),
							 since ? " since " : "", since ? since : "");
		}
		if ((int64) shown < bad)
			appendStringInfo(&msg, "\n... and %lld more (supamon.job_status).", (long long) (bad - shown));
	}
	return msg.data;
}

static SupamonStatement read_summary_at = {
	.sql = "SELECT summary_at FROM supamon.watch",
	.expect = SPI_OK_SELECT
};

static SupamonStatement update_summary_at = {
	.sql = "UPDATE supamon.watch SET summary_at = $1",
	.nargs = 1, .types = {TIMESTAMPTZOID},
	.expect = SPI_OK_UPDATE
};

/*
 * The summary is due when its schedule fired since the last one was sent
 * (an interval schedule: when that long has passed).  The first look only
 * starts the clock: setting a schedule is not a fire.
 */
static TimestampTz
summary_step(TimestampTz now)
{
	SmSchedule	s;
	SmTimeZone	tz;
	char		err[256];
	bool		isnull;
	TimestampTz last;
	int64		fire = 0;
	int64		next = 0;
	const char *zone = pg_get_timezone_name(session_timezone);

	if (supamon_summary_schedule == NULL || supamon_summary_schedule[0] == '\0')
		return 0;
	if (!sm_parse(supamon_summary_schedule, strlen(supamon_summary_schedule), SM_PGCRON_NEWEST,
				  &s, err, sizeof(err)))
		return 0;				/* the setting's check refused it already */
	if (zone == NULL || !SupamonLookupTimeZone(zone, &tz))
		tz = sm_utc;

	SupamonRun(&read_summary_at, NULL, NULL);
	if (SPI_processed == 0)
	{
		restore_watch_row();
		return 0;
	}
	last = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* a time ahead of the clock (it was set back) would hold summaries until then */
	if (!isnull && last > now)
		isnull = true;

	if (s.kind == SM_KIND_INTERVAL)
	{
		int64		every = (int64) s.interval_seconds * USECS_PER_SEC;

		if (!isnull && now - last < every)
			return last + every;
		fire = SupamonUnixSeconds(now);
	}
	else
	{
		if (sm_prev(&s, SupamonUnixSeconds(now), &tz, &fire) != SM_FOUND)
			return 0;
		if (!isnull && SupamonFromUnixSeconds(fire) <= last)
		{
			if (sm_next(&s, SupamonUnixSeconds(now), &tz, &next) != SM_FOUND)
				return 0;
			return SupamonFromUnixSeconds(next);
		}
	}
	if (!isnull)
	{
		char	   *text = summary_text();
		char		when[64];
		StringInfoData msg;

		initStringInfo(&msg);
		format_ts(now, when, sizeof(when));
		appendStringInfo(&msg, "supamon summary, %s. %s", when, text);
		queue_for_every_channel("summary", NULL, msg.data);
		SupamonWakeWorkerAtCommit();
	}
	{
		Datum		values[1] = {TimestampTzGetDatum(s.kind == SM_KIND_INTERVAL ? now : SupamonFromUnixSeconds(fire))};

		SupamonRun(&update_summary_at, values, NULL);
	}
	if (s.kind == SM_KIND_INTERVAL)
		return now + (int64) s.interval_seconds * USECS_PER_SEC;
	if (sm_next(&s, SupamonUnixSeconds(now), &tz, &next) != SM_FOUND)
		return 0;
	return SupamonFromUnixSeconds(next);
}

TimestampTz
WatchStep(TimestampTz worker_started, bool *queued)
{
	TimestampTz now = GetCurrentTimestamp();

	TimestampTz next;

	watch_queued = false;
	stale_step(now, worker_started);
	next = summary_step(now);
	*queued = watch_queued;
	return next;
}

/* ---------- what a user reads ---------- */

/*
 * supamon_check_state(): the last check started, completed and raised on
 * this server, and the heartbeat (NULLs without preloading).
 */
Datum
supamon_check_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[12];
	bool		nulls[12];
	WatchShared *w = SupamonWatchShared();
	WatchShared copy;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "supamon: supamon_check_state must return a record");
	memset(nulls, true, sizeof(nulls));
	values[11] = BoolGetDatum(SupamonWorkerRuns());
	nulls[11] = false;
	if (w)
	{
		SpinLockAcquire(&w->mutex);
		memcpy(&copy, w, sizeof(copy));
		SpinLockRelease(&w->mutex);
		if (copy.started_at)
		{
			values[0] = TimestampTzGetDatum(copy.started_at);
			values[1] = Int32GetDatum(copy.started_pid);
			nulls[0] = nulls[1] = false;
		}
		if (copy.completed_at)
		{
			values[2] = TimestampTzGetDatum(copy.completed_at);
			values[3] = Int64GetDatum(copy.completed_us / 1000);
			nulls[2] = nulls[3] = false;
		}
		values[4] = Int64GetDatum((int64) copy.completed);
		nulls[4] = false;
		if (copy.raised_at)
		{
			values[5] = TimestampTzGetDatum(copy.raised_at);
			values[6] = Int64GetDatum(copy.raised_us / 1000);
			/* written in its own database's encoding: made valid in this one's */
			values[7] = copy.raised_all ? (Datum) 0 : CStringGetTextDatum(SupamonCleanText(copy.raised_project, 0));
			values[8] = CStringGetTextDatum(SupamonCleanText(copy.raised_error, 0));
			nulls[5] = nulls[6] = nulls[8] = false;
			nulls[7] = copy.raised_all;
		}
		if (copy.heartbeat_at)
		{
			values[9] = TimestampTzGetDatum(copy.heartbeat_at);
			nulls[9] = false;
			values[10] = copy.heartbeat_error[0] ? CStringGetTextDatum(SupamonCleanText(copy.heartbeat_error, 0)) : (Datum) 0;
			nulls[10] = copy.heartbeat_error[0] == '\0';
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
