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

/* The rows of one statement, as text. */
typedef struct RemoteRows
{
	int			nrows;
	int			ncols;
	char	  **values;			/* row-major; palloc'd copies as sent (not
								 * cleaned); NULL for SQL NULL */
} RemoteRows;

/*
 * One connection's work: connect with a conninfo, send one (possibly
 * multi-statement) query, collect the rows of every statement.
 */
typedef struct RemoteRequest
{
	/* in */
	const char *conninfo;
	const char *sql;
	int64		max_bytes;		/* bound on the bytes of all values; 0: none */

	/* out */
	bool		ok;				/* connected, and every statement succeeded */
	char	   *error;			/* why not (palloc'd, cleaned, never a secret) */
	RemoteRows *sets;			/* one per statement that returned tuples */
	int			nsets;
	int64		bytes;			/* bytes of values received */
	int			elapsed_ms;

	/* private */
	RemoteState state;
	PGconn	   *conn;
	bool		holds_fd;
	bool		flushing;
	PostgresPollingStatusType polling;
	TimestampTz started;
	TimestampTz deadline;
	int			sets_size;
	MemoryContext cxt;
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
