/*
 * remote.h
 *		Many libpq connections at once, in one interruptible wait.
 */
#ifndef SUPAMON_REMOTE_H
#define SUPAMON_REMOTE_H

#include "libpq-fe.h"
#include "utils/palloc.h"
#include "utils/timestamp.h"

typedef enum RemoteState
{
	REMOTE_WAITING,				/* not started yet */
	REMOTE_RESOLVING,			/* its host names being looked up */
	REMOTE_CONNECTING,
	REMOTE_QUERYING,
	REMOTE_RELAYED,				/* handed to another process (RemoteHooks) */
	REMOTE_DONE
} RemoteState;

/* One statement's rows, as text. */
typedef struct RemoteRows
{
	int			nrows;
	int			ncols;
	char	  **values;			/* row-major; palloc'd copies as sent (not
								 * cleaned); NULL for SQL NULL */
} RemoteRows;

/*
 * One connection's work: connect with a conninfo, send one (possibly
 * multi-statement) query, and copy the rows of every statement as they
 * arrive, row by row, so that what a project sends costs its own size once,
 * bounded by max_bytes.  Everything out is palloc'd in the memory context
 * current when RemoteExecuteAll was called.
 */
typedef struct RemoteRequest
{
	/* in */
	const char *conninfo;
	const char *sql;			/* NULL: made by make_sql(sql_source) each time
								 * it is sent and freed once sent, so that a
								 * check of many projects holds only the
								 * texts in flight */
	char	   *(*make_sql) (const void *source);
	const void *sql_source;
	int64		max_bytes;		/* bound on the bytes of all values received;
								 * 0: none */
	PGconn	   *reuse;			/* an open, idle connection to send the query
								 * over (its descriptor is then the
								 * request's); one found closed is replaced
								 * by a new connection */
	bool		keep;			/* at the end, leave a healthy idle
								 * connection in conn (with its descriptor)
								 * instead of closing it */

	/* out */
	bool		ok;				/* connected, and every statement succeeded */
	char	   *error;			/* why not: palloc'd, cleaned and capped
								 * (SupamonCleanText, 1000 chars), secrets
								 * masked */
	RemoteRows *sets;			/* one per statement that returned tuples, in
								 * order */
	int			nsets;
	int64		bytes;			/* bytes of values received */
	int			elapsed_ms;
	bool		reused;			/* the answer came over 'reuse' */
	bool		replaced;		/* 'reuse' was found closed */

	/* private */
	RemoteState state;
	PGconn	   *conn;			/* while running; kept here at the end with
								 * 'keep' */
	bool		holds_fd;
	bool		heard;			/* the project answered something to the query */
	int			query_timeout_ms;
	bool		flushing;
	PostgresPollingStatusType polling;
	TimestampTz started;
	TimestampTz deadline;
	MemoryContext cxt;			/* where the rows go */
	struct RemoteResolve *resolve;	/* host name lookups, while resolving */
	int			sets_size;
	RemoteRows *cur;			/* the set being received, not yet in sets */
	int			cur_size;		/* rows cur->values has room for */
	pgsocket	registered;		/* the socket in the wait set, or
								 * PGINVALID_SOCKET */
	int			event_pos;		/* its position there */
	uint32		event_mask;		/* what it waits for there */
} RemoteRequest;

/*
 * HTTP requests to run in the same wait as the connections (the Management
 * API's, beside the projects' databases): after every wait, step(arg)
 * handles what finished and starts what follows; it returns false once
 * nothing is in flight or left to start.
 */
struct HttpClient;
typedef struct RemoteSideWork
{
	struct HttpClient *http;
	bool		(*step) (void *arg);
	void	   *arg;
	bool		started;		/* private */
	bool		busy;
} RemoteSideWork;

/*
 * Requests served by another process (pool.c: the backend hands them to the
 * collector, which keeps connections open across checks), and what that
 * process does as its own requests finish.
 *
 * relay: called before the first wait and after every wait; moves requests
 * it takes from REMOTE_WAITING to REMOTE_RELAYED, fills in the answers that
 * came back (REMOTE_DONE), and puts back to REMOTE_WAITING those it can no
 * longer serve (they are then run here).  Returns how many are still out.
 * It may raise an ERROR to end the whole call (the connections are released).
 * done: called as each request finishes, before its rows could be freed.
 * release: on the error path, gives back whatever relay holds.
 * need_fd: no descriptor is free to start a request: closes a connection it
 * keeps (and says so), or returns false.
 * settle: called before every wait, never while a request is being advanced:
 * the caller may use (and free) what is done, and run SPI; an ERROR it
 * raises ends the whole call (the connections are released).  It should be
 * brief: nothing in flight is read meanwhile.
 * may_start: false holds back the requests not started yet (the caller has
 * enough to do with what came); asked before each start.
 */
typedef struct RemoteHooks
{
	int			(*relay) (RemoteRequest *reqs, int n, void *arg);
	void		(*done) (RemoteRequest *r, void *arg);
	void		(*release) (void *arg);
	/* no descriptor is free for a request: close something, say whether */
	bool		(*need_fd) (RemoteRequest *reqs, int n, void *arg);
	void		(*settle) (RemoteRequest *reqs, int n, void *arg);
	bool		(*may_start) (void *arg);
	void	   *arg;
} RemoteHooks;

/*
 * Runs every request, at most max_active connections at a time (fewer when
 * the server has no more file descriptors for them), each with its own
 * connect and query timeouts (milliseconds), and side's HTTP requests (if
 * any) at the same time; hooks (or NULL) relays some to another process.
 * Returns when all are done; an interrupt (cancel, statement_timeout)
 * releases the connections and rethrows (the caller releases side's).  When
 * not even one connection can have a file descriptor, raises an ERROR.
 */
extern void RemoteExecuteAll(RemoteRequest *reqs, int n, int max_active,
							 int connect_timeout_ms, int query_timeout_ms,
							 RemoteSideWork *side, RemoteHooks *hooks);

/*
 * A descriptor for a connection, and giving it back: PostgreSQL's external
 * FDs, unless the process said it counts its own (RemoteUseOwnDescriptors:
 * the collector, which opens no relation files and raises its limit).
 */
extern bool RemoteAcquireFD(void);
extern void RemoteReleaseFD(void);
extern void RemoteUseOwnDescriptors(int budget);
extern int	RemoteDescriptorBudget(void);

/* Frees a request's rows (once the caller has used or copied them). */
extern void RemoteFreeRows(RemoteRequest *r);

/*
 * Closes connections and gives back their descriptors; safe to call more
 * than once, and on every path.  The rows stay: they belong to the caller's
 * memory context.
 */
extern void RemoteReleaseAll(RemoteRequest *reqs, int n);

/*
 * 'message' (such as libpq's error about a connection string) with every
 * secret of the conninfo (password, sslpassword, URI password) replaced by
 * "***", and every fragment libpq quoted from the conninfo hidden unless it
 * is plainly no secret.  Palloc'd.
 */
extern char *RemoteMaskSecrets(const char *conninfo, const char *message);

/* Whether a connection string is only blanks (libpq would use its defaults). */
extern bool RemoteConninfoIsBlank(const char *conninfo);

/*
 * What is wrong with a connection string that libpq parsed (a host name
 * holding part of a password), or NULL; the message holds no secret.
 */
extern const char *RemoteConninfoProblem(PQconninfoOption *opts);

#endif							/* SUPAMON_REMOTE_H */
