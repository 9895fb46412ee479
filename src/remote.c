/*
 * remote.c
 *		Many libpq connections at once, in one interruptible wait.
 *
 * The pattern of libpq-be-fe-helpers.h (non-blocking libpq, waits through
 * the latch, CHECK_FOR_INTERRUPTS, one external FD per connection) for
 * several connections: every loop builds a WaitEventSet over the latch and
 * the sockets of the active connections, waits until the nearest deadline,
 * and advances whichever connection is ready.  Cancel and statement_timeout
 * interrupt the wait; every connection and result is then released before
 * the error propagates.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "remote.h"
#include "supamon.h"

/* How much longer than the query timeout supamon waits for any answer. */
#define QUERY_DEADLINE_GRACE_MS 1000

static void start_request(RemoteRequest *r, int connect_timeout_ms);
static void advance_request(RemoteRequest *r, int query_timeout_ms);
static void finish_request(RemoteRequest *r, const char *error);
static void collect_results(RemoteRequest *r);
static char *libpq_error(PGconn *conn);

/*
 * libpq's message, chomped and copied out of libpq's memory.
 */
static char *
libpq_error(PGconn *conn)
{
	const char *msg = conn ? PQerrorMessage(conn) : NULL;
	StringInfoData buf;
	bool		space = false;

	if (msg == NULL || *msg == '\0')
		return pstrdup("connection failed");
	initStringInfo(&buf);
	/* say where, when libpq did not */
	if (conn && PQstatus(conn) == CONNECTION_BAD && PQhost(conn) && PQhost(conn)[0] &&
		strstr(msg, PQhost(conn)) == NULL)
		appendStringInfo(&buf, "%s:%s: ", PQhost(conn), PQport(conn) ? PQport(conn) : "");
	/* one line: libpq's continuation lines become spaces */
	for (const char *p = msg; *p; p++)
	{
		if (*p == '\n' || *p == '\t' || *p == ' ')
			space = buf.len > 0 && buf.data[buf.len - 1] != ' ';
		else
		{
			if (space)
				appendStringInfoChar(&buf, ' ');
			space = false;
			appendStringInfoChar(&buf, *p);
		}
	}
	return buf.data;
}

/*
 * Ends a request: records the first error, closes the connection and gives
 * back its file descriptor.
 */
static void
finish_request(RemoteRequest *r, const char *error)
{
	if (error && r->error == NULL)
		r->error = pstrdup(error);
	r->ok = (r->error == NULL);
	if (r->conn)
	{
		PQfinish(r->conn);
		r->conn = NULL;
	}
	if (r->holds_fd)
	{
		ReleaseExternalFD();
		r->holds_fd = false;
	}
	r->elapsed_ms = (int) ((GetCurrentTimestamp() - r->started) / 1000);
	r->state = REMOTE_DONE;
}

static void
start_request(RemoteRequest *r, int connect_timeout_ms)
{
	/*
	 * client_encoding SQL_ASCII: the project sends its bytes unconverted, so
	 * a value that is not valid in our encoding (a SQL_ASCII project storing
	 * anything) cannot make its whole query fail; collect.c replaces what
	 * is invalid.  Supabase projects are UTF8, like most central databases.
	 */
	const char *keywords[] = {"dbname", "application_name", "client_encoding", NULL};
	const char *values[] = {r->conninfo, "supamon", "SQL_ASCII", NULL};

	r->started = GetCurrentTimestamp();
	r->deadline = TimestampTzPlusMilliseconds(r->started, connect_timeout_ms);
	if (!AcquireExternalFD())
	{
		finish_request(r, "too many open files on the central server (raise max_files_per_process or lower supamon.max_connections)");
		return;
	}
	r->holds_fd = true;

	/* later keywords override what the conninfo says */
	r->conn = PQconnectStartParams(keywords, values, 1);
	if (r->conn == NULL)
	{
		finish_request(r, "out of memory");
		return;
	}
	if (PQstatus(r->conn) == CONNECTION_BAD)
	{
		char	   *msg = libpq_error(r->conn);

		finish_request(r, msg);
		return;
	}
	if (PQsetnonblocking(r->conn, 1) != 0)
	{
		finish_request(r, "could not set the connection to non-blocking mode");
		return;
	}
	r->polling = PGRES_POLLING_WRITING;
	r->state = REMOTE_CONNECTING;
}

/*
 * Takes every result that is complete without blocking; the request is done
 * when libpq has no more.
 */
static void
collect_results(RemoteRequest *r)
{
	while (!PQisBusy(r->conn))
	{
		PGresult   *res = PQgetResult(r->conn);
		ExecStatusType st;

		if (res == NULL)
		{
			finish_request(r, NULL);
			return;
		}
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK)
		{
			MemoryContext old = MemoryContextSwitchTo(r->cxt);
			RemoteRows *rows;

			if (r->nsets == r->sets_size)
			{
				int			size = r->sets_size ? r->sets_size * 2 : 8;

				r->sets = r->sets ? repalloc(r->sets, size * sizeof(RemoteRows)) :
					palloc(size * sizeof(RemoteRows));
				r->sets_size = size;
			}
			rows = &r->sets[r->nsets++];
			rows->nrows = PQntuples(res);
			rows->ncols = PQnfields(res);
			rows->values = palloc0(sizeof(char *) * Max(rows->nrows * rows->ncols, 1));
			for (int row = 0; row < rows->nrows; row++)
				for (int col = 0; col < rows->ncols; col++)
					if (!PQgetisnull(res, row, col))
					{
						rows->values[row * rows->ncols + col] =
							pnstrdup(PQgetvalue(res, row, col), PQgetlength(res, row, col));
						r->bytes += PQgetlength(res, row, col);
					}
			MemoryContextSwitchTo(old);
		}
		else if (st == PGRES_FATAL_ERROR && r->error == NULL)
		{
			const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			r->error = SupamonCleanText(RemoteMaskSecrets(r->conninfo, primary ? primary : "query failed"), 1000);
		}
		PQclear(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
		{
			finish_request(r, "unexpected COPY from the server");
			return;
		}
	}
}

/*
 * Moves a request on after its socket became ready.
 */
static void
advance_request(RemoteRequest *r, int query_timeout_ms)
{
	if (r->state == REMOTE_CONNECTING)
	{
		r->polling = PQconnectPoll(r->conn);
		if (r->polling == PGRES_POLLING_FAILED)
		{
			char	   *msg = libpq_error(r->conn);

			finish_request(r, msg);
			return;
		}
		if (r->polling != PGRES_POLLING_OK)
			return;
		if (!PQsendQuery(r->conn, r->sql))
		{
			char	   *msg = libpq_error(r->conn);

			finish_request(r, msg);
			return;
		}
		r->state = REMOTE_QUERYING;
		r->flushing = true;
		/*
		 * The project's statement_timeout (set by the query) should fire
		 * first, with its clearer message; this deadline, a second later,
		 * catches a server that does not answer at all.
		 */
		r->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  query_timeout_ms + QUERY_DEADLINE_GRACE_MS);
	}

	if (r->flushing)
	{
		int			rc = PQflush(r->conn);

		if (rc < 0)
		{
			char	   *msg = libpq_error(r->conn);

			finish_request(r, msg);
			return;
		}
		r->flushing = (rc == 1);
	}
	if (!PQconsumeInput(r->conn))
	{
		char	   *msg = libpq_error(r->conn);

		finish_request(r, msg);
		return;
	}
	collect_results(r);
}

/*
 * Waits until a socket of an active request is ready, the latch is set, or
 * the nearest deadline passes; returns the events.  The WaitEventSet lives
 * only for this wait (sockets change as connections progress), and is freed
 * on every path.
 */
static int
wait_for_events(RemoteRequest *reqs, int n, int active, WaitEvent *events)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz nearest = 0;
	WaitEventSet *set;
	volatile int nready = 0;

#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(CurrentResourceOwner, active + 2);
#else
	set = CreateWaitEventSet(CurrentMemoryContext, active + 2);
#endif
	PG_TRY();
	{
		long		timeout;

		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < n; i++)
		{
			RemoteRequest *r = &reqs[i];
			uint32		ev;

			if (r->state == REMOTE_CONNECTING)
				ev = r->polling == PGRES_POLLING_READING ?
					WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
			else if (r->state == REMOTE_QUERYING)
				ev = WL_SOCKET_READABLE | (r->flushing ? WL_SOCKET_WRITEABLE : 0);
			else
				continue;
			if (nearest == 0 || r->deadline < nearest)
				nearest = r->deadline;
			AddWaitEventToSet(set, ev, PQsocket(r->conn), NULL, r);
		}
		timeout = nearest > now ? (long) ((nearest - now + 999) / 1000) : 0;
		nready = WaitEventSetWait(set, timeout, events, active + 2, PG_WAIT_EXTENSION);
	}
	PG_FINALLY();
	{
		FreeWaitEventSet(set);
	}
	PG_END_TRY();
	return nready;
}

/*
 * One turn of the loop: time out, start, wait, advance.  Returns false when
 * every request is done.
 */
static bool
step_all(RemoteRequest *reqs, int n, int max_active, int connect_timeout_ms,
		 int query_timeout_ms, WaitEvent *events)
{
	int			active = 0;
	int			waiting = 0;
	TimestampTz now = GetCurrentTimestamp();
	int			nready;

	CHECK_FOR_INTERRUPTS();

	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if ((r->state == REMOTE_CONNECTING || r->state == REMOTE_QUERYING) &&
			now >= r->deadline)
			finish_request(r, r->state == REMOTE_CONNECTING ?
						   psprintf("timed out connecting after %d ms", connect_timeout_ms) :
						   psprintf("no answer within %d ms", query_timeout_ms + QUERY_DEADLINE_GRACE_MS));
	}

	for (int i = 0; i < n; i++)
		if (reqs[i].state == REMOTE_CONNECTING || reqs[i].state == REMOTE_QUERYING)
			active++;
	for (int i = 0; i < n && active < max_active; i++)
	{
		if (reqs[i].state != REMOTE_WAITING)
			continue;
		start_request(&reqs[i], connect_timeout_ms);
		if (reqs[i].state != REMOTE_DONE)
			active++;
	}
	for (int i = 0; i < n; i++)
		if (reqs[i].state == REMOTE_WAITING)
			waiting++;
	if (active == 0)
		return waiting > 0;

	nready = wait_for_events(reqs, n, active, events);
	for (int e = 0; e < nready; e++)
	{
		if (events[e].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		else if (events[e].user_data != NULL)
		{
			RemoteRequest *r = events[e].user_data;

			if (r->state == REMOTE_CONNECTING || r->state == REMOTE_QUERYING)
				advance_request(r, query_timeout_ms);
		}
	}
	return true;
}

void
RemoteExecuteAll(RemoteRequest *reqs, int n, int max_active,
				 int connect_timeout_ms, int query_timeout_ms)
{
	WaitEvent  *events = palloc(sizeof(WaitEvent) * (n + 2));

	for (int i = 0; i < n; i++)
		reqs[i].cxt = CurrentMemoryContext;

	PG_TRY();
	{
		while (step_all(reqs, n, max_active, connect_timeout_ms, query_timeout_ms, events))
			;
	}
	PG_CATCH();
	{
		RemoteReleaseAll(reqs, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pfree(events);
}

void
RemoteReleaseAll(RemoteRequest *reqs, int n)
{
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if (r->conn)
		{
			PQfinish(r->conn);
			r->conn = NULL;
		}
		if (r->holds_fd)
		{
			ReleaseExternalFD();
			r->holds_fd = false;
		}
		if (r->state != REMOTE_DONE)
			r->state = REMOTE_DONE;
	}
}

/* ---- masking secrets ---- */

/*
 * The values a conninfo (even a malformed one) gives for secrets, found
 * leniently: "password = value", "password='quoted value'", URI
 * "scheme://user:secret@host" and "?password=secret".
 */
static List *
secret_values(const char *conninfo)
{
	List	   *found = NIL;
	const char *p;
	const char *scheme_end = strstr(conninfo, "://");

	for (p = conninfo; *p; p++)
	{
		const char *k = NULL;

		if (pg_strncasecmp(p, "sslpassword", 11) == 0)
			k = p + 11;
		else if (pg_strncasecmp(p, "password", 8) == 0)
			k = p + 8;
		if (k == NULL)
			continue;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k != '=')
			continue;
		k++;
		while (*k == ' ' || *k == '\t')
			k++;
		{
			StringInfoData v;

			initStringInfo(&v);
			if (*k == '\'')
			{
				for (k++; *k && *k != '\''; k++)
				{
					if (*k == '\\' && k[1])
						k++;
					appendStringInfoChar(&v, *k);
				}
			}
			else
			{
				for (; *k && *k != ' ' && *k != '\t' && *k != '&'; k++)
					appendStringInfoChar(&v, *k);
			}
			if (v.len > 0)
				found = lappend(found, v.data);
		}
	}
	if (scheme_end)
	{
		const char *auth = scheme_end + 3;
		const char *at = strchr(auth, '@');
		const char *slash = strchr(auth, '/');

		if (at && (slash == NULL || at < slash))
		{
			const char *colon = memchr(auth, ':', at - auth);

			if (colon && at - colon > 1)
				found = lappend(found, pnstrdup(colon + 1, at - colon - 1));
		}
	}
	return found;
}

char *
RemoteMaskSecrets(const char *conninfo, const char *message)
{
	char	   *out = pstrdup(message ? message : "");
	ListCell   *lc;

	foreach(lc, secret_values(conninfo))
	{
		const char *secret = lfirst(lc);
		size_t		slen = strlen(secret);
		StringInfoData buf;
		const char *p = out;
		const char *hit;

		if (slen == 0)
			continue;
		initStringInfo(&buf);
		while ((hit = strstr(p, secret)) != NULL)
		{
			appendBinaryStringInfo(&buf, p, hit - p);
			appendStringInfoString(&buf, "***");
			p = hit + slen;
		}
		appendStringInfoString(&buf, p);
		out = buf.data;
	}
	return out;
}
