/*
 * remote.h
 *		Many libpq connections at once, in one interruptible wait.
 */
#ifndef SUPAMON_REMOTE_H
#define SUPAMON_REMOTE_H

#include "libpq-fe.h"
#include "utils/timestamp.h"

typedef enum RemoteState
{
	REMOTE_WAITING,				/* not started yet */
	REMOTE_CONNECTING,
	REMOTE_QUERYING,
	REMOTE_DONE
} RemoteState;

/*
 * One connection's work: connect with a conninfo, send one (possibly
 * multi-statement) query, collect every result.  The results are libpq's
 * (malloc'd): RemoteRelease frees them, on every path.
 */
typedef struct RemoteRequest
{
	/* in */
	const char *conninfo;
	const char *sql;

	/* out */
	bool		ok;				/* connected, and every statement succeeded */
	char	   *error;			/* why not (palloc'd, never a secret) */
	PGresult  **results;		/* one per statement, in order */
	int			nresults;
	int			elapsed_ms;

	/* private */
	RemoteState state;
	PGconn	   *conn;
	bool		holds_fd;
	bool		flushing;
	PostgresPollingStatusType polling;
	TimestampTz started;
	TimestampTz deadline;
	int			results_size;
} RemoteRequest;

/*
 * Runs every request, at most max_active connections at a time, each with
 * its own connect and query timeouts (milliseconds).  Returns when all are
 * done; an interrupt (cancel, statement_timeout) releases everything and
 * rethrows.
 */
extern void RemoteExecuteAll(RemoteRequest *reqs, int n, int max_active,
							 int connect_timeout_ms, int query_timeout_ms);

/* Closes connections and frees results; safe to call more than once. */
extern void RemoteReleaseAll(RemoteRequest *reqs, int n);

/*
 * 'message' (such as libpq's error about a connection string) with every
 * secret of the conninfo (password, sslpassword, URI password) replaced by
 * "***".
 */
extern char *RemoteMaskSecrets(const char *conninfo, const char *message);

#endif							/* SUPAMON_REMOTE_H */
