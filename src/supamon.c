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
#include "utils/guc.h"

#include "supamon.h"

PG_MODULE_MAGIC;

char	   *supamon_database = NULL;
int			supamon_connect_timeout = 10000;
int			supamon_query_timeout = 30000;
int			supamon_max_connections = 20;
int			supamon_max_answer_size = 64 * 1024;
int			supamon_repeat_interval = 3600;
int			supamon_log_retention = 30 * 24 * 60;

void		_PG_init(void);

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
							"How many projects supamon connects to at once.",
							"Each connection holds a file descriptor of the checking backend.",
							&supamon_max_connections,
							20, 1, 1000,
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

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("supamon");
#else
	EmitWarningsOnPlaceholders("supamon");
#endif

	if (process_shared_preload_libraries_in_progress)
		SupamonRegisterWorker();
}
