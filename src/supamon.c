/*
 * supamon.c
 *		Module entry point: settings and, when preloaded, the background worker.
 *
 * Without shared_preload_libraries every SQL function still works; only the
 * worker (which delivers alerts in the background) needs preloading.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/guc.h"

#include "pool.h"
#include "schedule.h"
#include "supamon.h"

PG_MODULE_MAGIC;

char	   *supamon_database = NULL;
int			supamon_connect_timeout = 10000;
int			supamon_query_timeout = 30000;
int			supamon_max_connections = 20;
int			supamon_max_answer_size = 64 * 1024;
int			supamon_repeat_interval = 3600;
int			supamon_log_retention = 30 * 24 * 60;
char	   *supamon_discord_webhook_url = NULL;
char	   *supamon_telegram_bot_token = NULL;
char	   *supamon_telegram_chat_id = NULL;
char	   *supamon_telegram_api_url = NULL;
int			supamon_http_timeout = 10000;
int			supamon_max_attempts = 8;
int			supamon_retry_backoff = 30;
int			supamon_digest_after = 5;
int			supamon_max_sends = 20;
char	   *supamon_supabase_access_token = NULL;
char	   *supamon_management_api_url = NULL;
double		supamon_edge_error_rate = 0.2;
int			supamon_edge_min_requests = 10;
int			supamon_edge_stats_interval = 0;
int			supamon_stale_after = 300;
char	   *supamon_heartbeat_url = NULL;
char	   *supamon_summary_schedule = NULL;

/* The Management API's windows for a function's traffic (edge.c's order). */
static const struct config_enum_entry stats_interval_options[] = {
	{"15min", 0, false},
	{"1hr", 1, false},
	{"3hr", 2, false},
	{"1day", 3, false},
	{NULL, 0, false}
};

void		_PG_init(void);

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Every occurrence of secret in s replaced by stars, or s itself. */
static char *
masked(char *s, const char *secret)
{
	StringInfoData out;
	const char *p = s;
	const char *hit;

	/* short values are no secrets worth a false match */
	if (s == NULL || secret == NULL || strlen(secret) < 8 || strstr(s, secret) == NULL)
		return s;
	initStringInfo(&out);
	while ((hit = strstr(p, secret)) != NULL)
	{
		appendBinaryStringInfo(&out, p, hit - p);
		appendStringInfoString(&out, "********");
		p = hit + strlen(secret);
	}
	appendStringInfoString(&out, p);
	return out.data;
}

/*
 * PostgreSQL logs a setting's new value when a reload changes it
 * ("parameter ... changed to ..."): the secret settings' values are masked
 * in whatever this process logs (the postmaster, when preloaded).
 */
static void
mask_secrets_in_log(ErrorData *edata)
{
	const char *secrets[4] = {supamon_supabase_access_token, supamon_discord_webhook_url,
	supamon_telegram_bot_token, supamon_heartbeat_url};

	for (int i = 0; i < (int) lengthof(secrets); i++)
	{
		edata->message = masked(edata->message, secrets[i]);
		edata->detail = masked(edata->detail, secrets[i]);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * What SHOW and pg_settings say of a secret setting: members of
 * pg_read_all_settings (pg_monitor among them) may read settings marked
 * superuser-only, so the value itself is for superusers only.
 */
static const char *
show_secret(const char *value)
{
	if (value == NULL || value[0] == '\0')
		return "";
	return superuser() ? value : "********";
}

static const char *
show_discord_webhook_url(void)
{
	return show_secret(supamon_discord_webhook_url);
}

static const char *
show_telegram_bot_token(void)
{
	return show_secret(supamon_telegram_bot_token);
}

static const char *
show_supabase_access_token(void)
{
	return show_secret(supamon_supabase_access_token);
}

static const char *
show_heartbeat_url(void)
{
	return show_secret(supamon_heartbeat_url);
}

/* The summary's schedule: pg_cron's language, one that fires on the clock or every N seconds. */
static bool
check_summary_schedule(char **newval, void **extra, GucSource source)
{
	SmSchedule	s;
	char		err[256];

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!sm_parse(*newval, strlen(*newval), SM_PGCRON_NEWEST, &s, err, sizeof(err)))
	{
		GUC_check_errdetail("%s", err);
		return false;
	}
	if (s.kind == SM_KIND_REBOOT || (s.kind == SM_KIND_CRON && !s.can_fire))
	{
		GUC_check_errdetail("It never fires on the clock.");
		return false;
	}
	return true;
}

/*
 * Defines supamon's settings and registers the worker when preloaded.
 */
void
_PG_init(void)
{
	/*
	 * A PGC_POSTMASTER setting can only be defined while preloading; loaded
	 * later (no preload, so no worker), the value only informs SHOW.
	 */
	GucContext	postmaster_only = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("supamon.database",
							   "Database in which the supamon background worker runs.",
							   "The extension must be created in this database for the worker to do its work.",
							   &supamon_database,
							   "postgres",
							   postmaster_only,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("supamon.connect_timeout",
							"How long supamon waits for a project's connection.",
							NULL,
							&supamon_connect_timeout,
							10000, 100, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.query_timeout",
							"How long a project may take to answer supamon's queries.",
							"Also set as statement_timeout in the project's session.",
							&supamon_query_timeout,
							30000, 100, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.max_connections",
							"How many projects supamon reads at once.",
							"Each connection holds a file descriptor of the process that opens it (the collector, or the checking backend); fewer run at once when the descriptors run short.",
							&supamon_max_connections,
							100, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("supamon.max_answer_size",
							"How much one project's answer may hold (0: no limit).",
							"A project sending more is reported with an error; the others are still collected.",
							&supamon_max_answer_size,
							64 * 1024, 0, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("supamon.repeat_interval",
							"How often a problem that persists is alerted again (0: never).",
							NULL,
							&supamon_repeat_interval,
							3600, 0, 30 * 24 * 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.log_retention",
							"How long supamon.job_health_log keeps its rows.",
							"Older rows are purged by every check.",
							&supamon_log_retention,
							30 * 24 * 60, 1, 10 * 365 * 24 * 60,
							PGC_SUSET,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	/*
	 * The zero-table channels.  Secrets: superuser-only, hidden from SHOW to
	 * others, and never checked by a hook (PostgreSQL's "invalid value for
	 * parameter" message would quote the token); a bad value is reported
	 * when an alert is sent, masked.
	 */
	DefineCustomStringVariable("supamon.discord_webhook_url",
							   "Discord webhook that receives every alert when supamon.alert_config has no Discord channel.",
							   NULL,
							   &supamon_discord_webhook_url,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, show_discord_webhook_url);
	DefineCustomStringVariable("supamon.telegram_bot_token",
							   "Telegram bot token for critical alerts when supamon.alert_config has no Telegram channel.",
							   NULL,
							   &supamon_telegram_bot_token,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, show_telegram_bot_token);
	DefineCustomStringVariable("supamon.telegram_chat_id",
							   "Telegram chat that receives critical alerts with supamon.telegram_bot_token.",
							   "A chat id (a number, negative for groups) or @channelname.",
							   &supamon_telegram_chat_id,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("supamon.telegram_api_url",
							   "Base URL of the Telegram Bot API.",
							   NULL,
							   &supamon_telegram_api_url,
							   "https://api.telegram.org",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.http_timeout",
							"How long one alert's HTTP request may take, connection included.",
							"Also bounds how long supamon_check_health() spends delivering when no worker does.",
							&supamon_http_timeout,
							10000, 100, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.max_attempts",
							"How many times an alert is tried before it is dead.",
							"A 429 answer (wait and retry) does not count.",
							&supamon_max_attempts,
							8, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.retry_backoff",
							"The first wait before an alert is retried; each retry waits about twice as long.",
							NULL,
							&supamon_retry_backoff,
							30, 1, 24 * 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.digest_after",
							"How many alerts pending for one Discord or Telegram channel go as one digest message (0: never).",
							"More than this many at once are sent as one message, worst first.",
							&supamon_digest_after,
							5, 0, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.max_sends",
							"How many alert requests are in flight at once.",
							NULL,
							&supamon_max_sends,
							20, 1, 200,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	/* Edge Functions, through the Supabase Management API */
	DefineCustomStringVariable("supamon.supabase_access_token",
							   "Supabase access token with which supamon reads projects' Edge Functions from the Management API.",
							   "Projects with a supabase_ref are asked each check; empty: Edge Functions are not watched.",
							   &supamon_supabase_access_token,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, show_supabase_access_token);
	DefineCustomStringVariable("supamon.management_api_url",
							   "Base URL of the Supabase Management API.",
							   NULL,
							   &supamon_management_api_url,
							   "https://api.supabase.com",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomRealVariable("supamon.edge_error_rate",
							 "Share of an Edge Function's recent requests that may answer 5xx before it is failed.",
							 "Judged only with at least supamon.edge_min_requests requests in the window.",
							 &supamon_edge_error_rate,
							 0.2, 0.0, 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("supamon.edge_min_requests",
							"How many requests an Edge Function needs in the window for its error rate to count.",
							NULL,
							&supamon_edge_min_requests,
							10, 1, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("supamon.edge_stats_window",
							 "How far back an Edge Function's traffic is read: 15min, 1hr, 3hr or 1day.",
							 NULL,
							 &supamon_edge_stats_interval,
							 0,
							 stats_interval_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/* Watching the watcher: read by the worker, so set in postgresql.conf or ALTER SYSTEM */
	DefineCustomIntVariable("supamon.stale_after",
							"How long without a completed check before the worker says so on every channel.",
							"0: never.  Needs the worker (shared_preload_libraries).",
							&supamon_stale_after,
							300, 0, 7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("supamon.heartbeat_url",
							   "URL called after every completed check (a Healthchecks-style ping), so that an outside service notices when checks stop.",
							   "Empty: none.",
							   &supamon_heartbeat_url,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   /*
								* no check hook: PostgreSQL's message for a
								* refused value quotes it; it is checked where
								* it is used, and why it was not called is in
								* supamon.check_status
								*/
							   NULL, NULL, show_heartbeat_url);
	DefineCustomStringVariable("supamon.summary_schedule",
							   "When the worker sends every channel a summary of the fleet's health, in pg_cron's schedule language (the server's time zone).",
							   "Empty: never.  For example '0 9 * * *'.",
							   &supamon_summary_schedule,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_summary_schedule, NULL, NULL);

	DefineCustomIntVariable("supamon.idle_connection_timeout",
							"How long the collector keeps a project's connection open unused between checks.",
							"0: it closes each after the check.  Without shared_preload_libraries no connection outlives its check.",
							&supamon_idle_connection_timeout,
							600, 0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("supamon");
#else
	EmitWarningsOnPlaceholders("supamon");
#endif

	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = mask_secrets_in_log;

	if (process_shared_preload_libraries_in_progress)
	{
		SupamonRequestShmem();
		SupamonRegisterWorker();
		PoolRegisterCollector();
	}
}
