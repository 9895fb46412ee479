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
 * here at the same time.  As RemoteExecuteAll.  A listener (or NULL) is
 * told, between waits, of each request once it is done however it was
 * served (answered: it may use the rows and free them), then that a turn
 * ends (turn: it may run SPI); full says the caller wants no more answers
 * for now (none is started or taken from the collector).  Their ERROR ends
 * the call.  They should be brief: while they run, nothing in flight is
 * read.
 */
typedef struct PoolListener
{
	void		(*answered) (int r, void *arg);
	void		(*turn) (void *arg);
	bool		(*full) (void *arg);
	void	   *arg;
} PoolListener;

extern void PoolExecuteAll(RemoteRequest *reqs, const char **names, int n,
						   RemoteSideWork *side, const PoolListener *listener);

/* Closes the kept connection of this database's project 'name', if any. */
extern void PoolForgetProject(const char *name);

PGDLLEXPORT void supamon_collector_main(Datum main_arg);

#endif							/* SUPAMON_POOL_H */
