/*
 * worker.c
 *		The supamon background worker: one process in supamon.database.
 *
 * The loop follows pg_cron's launcher: check interrupts, reload settings on
 * SIGHUP, wait on the latch, and reset a per-loop memory context so that a
 * process that lives for months never grows.
 *
 * SIGTERM ends the worker with exit code 0, so the postmaster does not
 * restart it: that is what a server shutdown, pg_terminate_backend() and
 * DROP DATABASE ... WITH (FORCE) of its own database mean.  A crash (any
 * other exit) is restarted after SUPAMON_RESTART_SECONDS.  SIGUSR1 keeps the
 * standard procsignal handler, and every wake-up runs CHECK_FOR_INTERRUPTS,
 * so ProcSignalBarriers (DROP DATABASE of any database waits for them) are
 * absorbed promptly.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "supamon.h"

/* Seconds before the postmaster restarts a worker that crashed. */
#define SUPAMON_RESTART_SECONDS 10

/*
 * How long the worker sleeps between looks at its database when nothing wakes
 * it: long enough to cost nothing, short enough that CREATE EXTENSION is
 * noticed without a restart.
 */
#define SUPAMON_IDLE_TIMEOUT_MS 10000L

PGDLLEXPORT void supamon_worker_main(Datum main_arg);

static volatile sig_atomic_t got_sigterm = false;

static void supamon_sigterm(SIGNAL_ARGS);
static bool ExtensionInstalled(void);

/*
 * Registers the worker; called from _PG_init while preloading.
 */
void
SupamonRegisterWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* Never on a hot standby: it writes to its tables. */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = SUPAMON_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "supamon");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "supamon_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "supamon worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "supamon worker");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * SIGTERM: ask the loop to finish; the latch wakes it if it is waiting.
 */
static void
supamon_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Whether CREATE EXTENSION supamon has been run in this database.
 */
static bool
ExtensionInstalled(void)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(get_extension_oid("supamon", true));
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	return installed;
}

/*
 * Worker entry point.
 */
void
supamon_worker_main(Datum main_arg)
{
	MemoryContext loop_context;
	int			last_state = -1;	/* -1 unknown, 0 not installed, 1 installed */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, supamon_sigterm);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(supamon_database, NULL, 0);

	ereport(LOG,
			(errmsg("supamon worker started in database \"%s\"",
					supamon_database)));

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "supamon worker loop",
										 ALLOCSET_DEFAULT_SIZES);

	while (!got_sigterm)
	{
		int			state;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		oldcontext = MemoryContextSwitchTo(loop_context);
		state = ExtensionInstalled() ? 1 : 0;
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(loop_context);

		if (state != last_state)
		{
			if (state)
			{
				ereport(LOG,
						(errmsg("supamon worker: extension found in database \"%s\"",
								supamon_database)));
				pgstat_report_activity(STATE_IDLE, "supamon: idle");
			}
			else
			{
				ereport(LOG,
						(errmsg("supamon worker: extension not installed in database \"%s\"; waiting",
								supamon_database),
						 errhint("Run CREATE EXTENSION supamon in that database.")));
				pgstat_report_activity(STATE_IDLE,
									   "supamon: waiting for CREATE EXTENSION supamon");
			}
			last_state = state;
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SUPAMON_IDLE_TIMEOUT_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	ereport(LOG, (errmsg("supamon worker shutting down")));
	proc_exit(0);
}
