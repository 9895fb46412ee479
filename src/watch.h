/*
 * watch.h
 *		Watching the watcher: what each check did (shared memory, so that a
 *		check whose transaction was rolled back is still seen), checks that
 *		stopped completing, the heartbeat URL and the daily summary.
 */
#ifndef SUPAMON_WATCH_H
#define SUPAMON_WATCH_H

#include "storage/spin.h"
#include "utils/timestamp.h"

#define WATCH_TEXT 512

/*
 * The last check started, completed and raised, on this server (any
 * database), and the worker's heartbeat.  Lost at a restart: what must
 * survive one (that a stale alert was told) lives in supamon.watch.
 */
typedef struct WatchShared
{
	slock_t		mutex;
	TimestampTz started_at;
	int			started_pid;
	Oid			started_db;
	TimestampTz completed_at;
	int64		completed_us;	/* how long it took */
	uint64		completed;		/* checks completed since the server started */
	TimestampTz raised_at;
	int64		raised_us;
	bool		raised_all;		/* it checked every project */
	Oid			raised_db;
	char		raised_project[NAMEDATALEN * 2];
	char		raised_error[WATCH_TEXT];
	TimestampTz heartbeat_at;	/* the last ping's answer */
	char		heartbeat_error[WATCH_TEXT];	/* "": it worked */
} WatchShared;

/* worker.c: NULL when supamon was not preloaded. */
extern WatchShared *SupamonWatchShared(void);
extern void SupamonWakeWorker(void);
extern bool SupamonWorkerRuns(void);

/*
 * A check begins (only: the one project it checks, or NULL) and returns;
 * its transaction's commit or rollback is what is recorded.
 */
extern void WatchCheckBegins(const char *only);
extern void WatchCheckReturns(void);

/* The error that ends a check (before it is thrown on). */
extern void WatchCheckRaises(const char *message);

/* Whether supamon.heartbeat_url may be called; why not ("not called: ..."). */
extern bool WatchHeartbeatUsable(char *why, size_t len);


/*
 * The worker's side, in a transaction with SPI: the stale-check alert and
 * its recovery, and the summary when its schedule is due.  Returns when it
 * wants to look again.
 */
extern TimestampTz WatchStep(TimestampTz worker_started, bool *queued);

#endif							/* SUPAMON_WATCH_H */
