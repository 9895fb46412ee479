/*
 * pool.h
 *		Project connections kept open across checks by the collector, a
 *		background process, which reads the projects on a check's behalf.
 */
#ifndef SUPAMON_POOL_H
#define SUPAMON_POOL_H

#include "remote.h"

/* The settings of the collector's connections. */
extern int	supamon_idle_connection_timeout;

/* Shared memory: its size, and its set-up at the postmaster's start. */
extern Size PoolShmemSize(void);
extern void PoolShmemInit(void);

/* Registers the collector; called from _PG_init while preloading. */
extern void PoolRegisterCollector(void);

/*
 * Runs the requests (each with the name of its project) with supamon's
 * settings: through the collector's kept connections when it runs, here
 * otherwise (and for whatever it cannot serve); side's HTTP requests run
 * here at the same time.  As RemoteExecuteAll.  answered (or NULL) is told
 * of each request once it is done, between waits, however it was served: it
 * may use the rows and free them; its ERROR ends the call.  It should be
 * quick: while it runs, nothing in flight is read (deadlines run on).
 */
typedef void (*PoolAnswered) (int r, void *arg);
extern void PoolExecuteAll(RemoteRequest *reqs, const char **names, int n,
						   RemoteSideWork *side, PoolAnswered answered, void *arg);

/* Closes the kept connection of this database's project 'name', if any. */
extern void PoolForgetProject(const char *name);

PGDLLEXPORT void supamon_collector_main(Datum main_arg);

#endif							/* SUPAMON_POOL_H */
