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
 *
 * Its work is delivering the alert outbox (deliver.c).  A transaction that
 * queues alerts sets the worker's latch when it commits, so an alert leaves
 * within milliseconds without polling; the one wait covers the latch and
 * the sockets of the requests in flight, so SIGTERM, SIGHUP and new alerts
 * are seen at once even while a webhook is slow.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "deliver.h"
#include "pool.h"
#include "supamon.h"
#include "watch.h"

/*
 * How long the worker sleeps between looks at its database when nothing wakes
 * it: long enough to cost nothing, short enough that CREATE EXTENSION is
 * noticed without a restart.
 */
#define SUPAMON_IDLE_TIMEOUT_MS 10000L

/* The first extension version whose outbox the worker delivers. */
#define SUPAMON_DELIVERY_VERSION "0.6.0"

PGDLLEXPORT void supamon_worker_main(Datum main_arg);

/* What backends need to wake the worker, and what checks tell it. */
typedef struct SupamonShared
{
	Latch	   *worker_latch;	/* NULL while no worker runs */
	WatchShared watch;
} SupamonShared;

static SupamonShared *shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

static volatile sig_atomic_t got_sigterm = false;

/* The worker's per-loop memory, reset at each turn. */
static MemoryContext loop_context = NULL;

static SupamonStatement current_version = {
	.sql = "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'supamon'"
		" AND extversion NOT IN ('0.1.0', '0.2.0', '0.3.0', '0.4.0', '0.5.0')",
	.expect = SPI_OK_SELECT
};

static SupamonStatement has_watch = {
	.sql = "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
		" ON n.oid = c.relnamespace WHERE n.nspname = 'supamon' AND c.relname = 'watch'",
	.expect = SPI_OK_SELECT
};

static void supamon_sigterm(SIGNAL_ARGS);
static int	ExtensionState(void);

/* Whether the extension's version has the watcher's table (supamon.watch). */
static bool watch_ready = false;

static void
supamon_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(SupamonShared)));
	RequestAddinShmemSpace(PoolShmemSize());
}

static void
supamon_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("supamon", sizeof(SupamonShared), &found);
	if (!found)
	{
		shared->worker_latch = NULL;
		memset(&shared->watch, 0, sizeof(shared->watch));
		SpinLockInit(&shared->watch.mutex);
	}
	PoolShmemInit();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Asks for supamon's shared memory; called from _PG_init while preloading.
 */
void
SupamonRequestShmem(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = supamon_shmem_request;
#else
	supamon_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = supamon_shmem_startup;
}

/*
 * Whether the worker delivers the alerts of this database: supamon is
 * preloaded, this is supamon.database and the worker runs (it is restarted
 * after a crash, not after pg_terminate_backend).  Otherwise the check
 * delivers what is due itself.
 */
bool
SupamonWorkerDelivers(void)
{
	char	   *db;

	/* a worker ended for good (pg_terminate_backend) delivers nothing */
	if (shared == NULL || shared->worker_latch == NULL)
		return false;
	db = get_database_name(MyDatabaseId);
	return db != NULL && strcmp(db, supamon_database) == 0;
}

/* The checks' shared record, or NULL when supamon was not preloaded. */
WatchShared *
SupamonWatchShared(void)
{
	return shared ? &shared->watch : NULL;
}

/* Wakes the worker now, if one runs. */
void
SupamonWakeWorker(void)
{
	Latch	   *latch = shared ? shared->worker_latch : NULL;

	if (latch)
		SetLatch(latch);
}

/* Whether a worker runs (it watches the checks and pings the heartbeat). */
bool
SupamonWorkerRuns(void)
{
	return shared != NULL && shared->worker_latch != NULL;
}

static void
wake_worker_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && shared != NULL)
	{
		Latch	   *latch = shared->worker_latch;

		if (latch)
			SetLatch(latch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
}

/*
 * Wakes the worker when the current transaction commits (its alerts are
 * visible then, not before).
 */
void
SupamonWakeWorkerAtCommit(void)
{
	if (shared == NULL)
		return;
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_worker_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

static void
forget_worker_latch(int code, Datum arg)
{
	if (shared)
		shared->worker_latch = NULL;
}

/*
 * Registers the worker; called from _PG_init while preloading.
 */
void
SupamonRegisterWorker(void)
{
	BackgroundWorker worker;

	SupamonWorkerStruct(&worker, BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
						"supamon_worker_main", "supamon worker");
	worker.bgw_restart_time = SUPAMON_RESTART_SECONDS;
	RegisterBackgroundWorker(&worker);
}

/*
 * A background worker of supamon's library: never on a hot standby (each
 * writes or pings for a server that is primary), not restarted, named
 * (bgw_type) as pg_stat_activity shows it.
 */
void
SupamonWorkerStruct(BackgroundWorker *w, int flags, const char *function, const char *type)
{
	memset(w, 0, sizeof(*w));
	w->bgw_flags = flags;
	w->bgw_start_time = BgWorkerStart_RecoveryFinished;
	w->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w->bgw_library_name, BGW_MAXLEN, "supamon");
	snprintf(w->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(w->bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(w->bgw_type, BGW_MAXLEN, "%s", type);
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
 * 0: supamon is not installed in this database; 1: installed, at a version
 * older than this library delivers for (ALTER EXTENSION supamon UPDATE is
 * due); 2: ready.
 */
static int
ExtensionState(void)
{
	int			state = 0;

	watch_ready = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("supamon", true)))
	{
		SPI_connect();
		state = 1;
		if (SupamonRun(&current_version, NULL, NULL) == 1)
			state = 2;
		/* the watcher's table came with 0.10.0 */
		watch_ready = state == 2 && SupamonRun(&has_watch, NULL, NULL) == 1;
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(loop_context);
	pgstat_report_stat(true);
	return state;
}

/* What pg_stat_activity last said of requests in flight (-1: something else). */
static int	reported_in_flight = -1;

/* Set when the extension was found dropped: its state is looked at again. */
static bool extension_gone = false;

/* Runs fn in a transaction of its own, with SPI, if supamon is still there. */
static void
in_transaction(void (*fn) (void *), void *arg, const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	if (OidIsValid(get_extension_oid("supamon", true)))
		fn(arg);
	else
		extension_gone = true;
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* the commit left TopMemoryContext current; the loop's is wanted */
	MemoryContextSwitchTo(loop_context);
	pgstat_report_stat(false);
	reported_in_flight = -1;
}

typedef struct WorkerRound
{
	Deliverer  *deliverer;
	TimestampTz wake;
	DeliverCounts counts;
} WorkerRound;

/* The watcher's side: looked at every SUPAMON_IDLE_TIMEOUT_MS, and when woken. */
typedef struct WatchRound
{
	TimestampTz started;		/* when this worker started */
	TimestampTz next;			/* the summary's next time, 0: none */
	bool		queued;			/* it queued messages */
	TimestampTz failure_logged; /* when a failure was last logged */
} WatchRound;

static void
watch_inner(void *arg)
{
	WatchRound *w = arg;

	/* a row of supamon.watch locked by someone must not hold the alerts up */
	(void) SupamonRunText("SET LOCAL lock_timeout = 1000", false, SPI_OK_UTILITY);
	w->next = WatchStep(w->started, &w->queued);
}

static bool
nothing_is_callers(int sqlerrcode)
{
	return false;
}

/*
 * The watcher's look, in a subtransaction of its own: whatever fails there
 * (supamon.watch locked or tampered with, a bad row in job_status) is
 * logged, every 10 minutes at most, and never stops the delivery of alerts.
 */
static void
watch_step(void *arg)
{
	WatchRound *w = arg;
	ErrorData  *failed;

	w->queued = false;
	failed = SupamonSubtransaction(watch_inner, w, nothing_is_callers);
	if (failed)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (w->failure_logged == 0 ||
			now - w->failure_logged >= (int64) 600 * USECS_PER_SEC)
		{
			ereport(LOG,
					(errmsg("supamon worker: watching the checks failed: %s", failed->message),
					 errdetail("Alerts are still delivered; it is tried again at the next look.")));
			w->failure_logged = now;
		}
		/* tried again at the next look, not in a loop */
		w->next = 0;
	}
}

/*
 * One ping of supamon.heartbeat_url per completed check, one at a time; a
 * backlog (the URL was down) is not replayed beyond a few.
 */
/* What check_status says of the heartbeat: when, and why it failed ("": it worked). */
static void
note_heartbeat(WatchShared *w, const char *why)
{
	SpinLockAcquire(&w->mutex);
	w->heartbeat_at = GetCurrentTimestamp();
	strlcpy(w->heartbeat_error, why, sizeof(w->heartbeat_error));
	SpinLockRelease(&w->mutex);
}

static void
heartbeat(Deliverer *d, uint64 *pinged)
{
	WatchShared *w = SupamonWatchShared();
	uint64		completed;
	char		why[WATCH_TEXT];

	if (w == NULL)
		return;
	if (DeliverPingDone(d, why, sizeof(why)))
	{
		note_heartbeat(w, why);
		if (why[0])
			ereport(LOG, (errmsg("supamon worker: the heartbeat URL could not be called: %s", why)));
	}
	SpinLockAcquire(&w->mutex);
	completed = w->completed;
	SpinLockRelease(&w->mutex);
	if (*pinged >= completed)
		return;
	if (supamon_heartbeat_url == NULL || supamon_heartbeat_url[0] == '\0')
	{
		*pinged = completed;
		return;
	}
	if (completed - *pinged > 3)
		*pinged = completed - 3;
	if (!WatchHeartbeatUsable(why, sizeof(why)))
	{
		*pinged = completed;
		note_heartbeat(w, why);
		return;
	}
	if (DeliverPingStart(d, supamon_heartbeat_url))
		(*pinged)++;
}

static void
requeue_step(void *arg)
{
	uint64		n = DeliverRequeue();

	if (n > 0)
		ereport(LOG,
				(errmsg("supamon worker: %llu alert(s) were being sent when the worker stopped; sending them again",
						(unsigned long long) n)));
}

static void
claim_step(void *arg)
{
	WorkerRound *round = arg;

	round->wake = DeliverClaim(round->deliverer);
}

static void
record_step(void *arg)
{
	WorkerRound *round = arg;

	DeliverRecord(round->deliverer, &round->counts);
}

/*
 * Worker entry point.
 */
void
supamon_worker_main(Datum main_arg)
{
	MemoryContext deliver_context;
	int			last_state = -1;
	WorkerRound round;
	TimestampTz next_look = 0;
	TimestampTz pump_wake = 0;
	bool		claim_due = true;
	WatchRound	watch;
	TimestampTz next_watch = 0;
	uint64		pinged = 0;
	uint64		watched = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, supamon_sigterm);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(supamon_database, NULL, 0);
	/* every statement resolves to pg_catalog and supamon's own objects */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/* a database's statement or lock timeout would turn a slow moment into a resend */
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Its commits need not wait for the disk: one lost in a crash leaves an
	 * alert 'pending' or 'sending', which is sent again (at least once).
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	if (shared)
	{
		shared->worker_latch = MyLatch;
		before_shmem_exit(forget_worker_latch, (Datum) 0);
		/* checks before this worker started were pinged by themselves or by an earlier one */
		SpinLockAcquire(&shared->watch.mutex);
		pinged = watched = shared->watch.completed;
		SpinLockRelease(&shared->watch.mutex);
	}
	memset(&watch, 0, sizeof(watch));
	watch.started = GetCurrentTimestamp();

	ereport(LOG,
			(errmsg("supamon worker started in database \"%s\"",
					supamon_database)));

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "supamon worker loop",
										 ALLOCSET_DEFAULT_SIZES);
	/* lives as long as the worker: connections and rate limits */
	deliver_context = AllocSetContextCreate(TopMemoryContext,
											"supamon delivery",
											ALLOCSET_DEFAULT_SIZES);
	memset(&round, 0, sizeof(round));
	{
		MemoryContext old = MemoryContextSwitchTo(deliver_context);

		round.deliverer = DeliverCreate();
		MemoryContextSwitchTo(old);
	}

	while (!got_sigterm)
	{
		TimestampTz now;
		long		timeout;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		oldcontext = MemoryContextSwitchTo(loop_context);
		now = GetCurrentTimestamp();

		/* the extension may be created, updated or dropped at any time */
		if (now >= next_look || last_state != 2 || extension_gone)
		{
			int			state = ExtensionState();

			next_look = TimestampTzPlusMilliseconds(now, SUPAMON_IDLE_TIMEOUT_MS);
			extension_gone = false;
			/* a wake-up someone else's wait swallowed is caught up here */
			claim_due = true;
			if (state != last_state)
			{
				if (last_state == 2)
					DeliverDiscardQueued(round.deliverer);
				if (state == 2)
				{
					ereport(LOG,
							(errmsg("supamon worker: extension found in database \"%s\"",
									supamon_database)));
					in_transaction(requeue_step, NULL, "supamon: requeueing alerts");
				}
				else if (state == 1)
					ereport(LOG,
							(errmsg("supamon worker: supamon in database \"%s\" is older than %s; alerts wait",
									supamon_database, SUPAMON_DELIVERY_VERSION),
							 errhint("Run ALTER EXTENSION supamon UPDATE in that database.")));
				else
					ereport(LOG,
							(errmsg("supamon worker: extension not installed in database \"%s\"; waiting",
									supamon_database),
							 errhint("Run CREATE EXTENSION supamon in that database.")));
				if (state != 2)
					pgstat_report_activity(STATE_IDLE, "supamon: waiting for CREATE EXTENSION supamon");
				reported_in_flight = -1;
				last_state = state;
				claim_due = true;
			}
		}

		if (last_state == 2)
		{
			if (DeliverHasResults(round.deliverer))
				in_transaction(record_step, &round, "supamon: recording deliveries");
			if (claim_due || DeliverWantsClaim(round.deliverer) ||
				(round.wake != 0 && now >= round.wake))
			{
				in_transaction(claim_step, &round, "supamon: claiming alerts");
				claim_due = false;
			}
			pump_wake = DeliverPump(round.deliverer);
			/*
			 * The watcher, after the alerts are on their way: every look,
			 * when a check completed, when the summary is due.
			 */
			if (watch_ready && shared)
			{
				uint64		completed;

				SpinLockAcquire(&shared->watch.mutex);
				completed = shared->watch.completed;
				SpinLockRelease(&shared->watch.mutex);
				if (now >= next_watch || completed != watched ||
					(watch.next != 0 && now >= watch.next))
				{
					in_transaction(watch_step, &watch, "supamon: watching the checks");
					next_watch = TimestampTzPlusMilliseconds(now, SUPAMON_IDLE_TIMEOUT_MS);
					watched = completed;
					/* what it queued is claimed at once */
					claim_due = claim_due || watch.queued;
				}
			}
		}
		/* the heartbeat needs no extension: only the checks' shared record */
		heartbeat(round.deliverer, &pinged);
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(loop_context);

		now = GetCurrentTimestamp();
		timeout = next_look > now ? (long) ((next_look - now) / 1000) : 0;
		if (last_state == 2)
		{
			TimestampTz wake = round.wake;

			if (pump_wake != 0 && (wake == 0 || pump_wake < wake))
				wake = pump_wake;
			if (watch.next != 0 && (wake == 0 || watch.next < wake))
				wake = watch.next;
			if (wake != 0)
				timeout = Min(timeout, wake > now ? (long) ((wake - now + 999) / 1000) : 0);
		}
		if (last_state == 2 && DeliverInFlight(round.deliverer) != reported_in_flight)
		{
			reported_in_flight = DeliverInFlight(round.deliverer);
			if (reported_in_flight == 0)
				pgstat_report_activity(STATE_IDLE, "supamon: idle");
			else
			{
				char		activity[64];

				snprintf(activity, sizeof(activity), "supamon: %d alert request(s) in flight",
						 reported_in_flight);
				pgstat_report_activity(STATE_IDLE, activity);
			}
		}
		if (DeliverWait(round.deliverer, timeout))
			claim_due = true;
	}

	ereport(LOG, (errmsg("supamon worker shutting down")));
	proc_exit(0);
}
