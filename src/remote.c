/*
 * remote.c
 *		Many libpq connections at once, in one interruptible wait.
 *
 * The pattern of libpq-be-fe-helpers.h (non-blocking libpq, waits through
 * the latch, CHECK_FOR_INTERRUPTS, one external FD per connection) for
 * several connections: one WaitEventSet over the latch and the sockets of
 * the active connections, rebuilt only when those sockets change; each turn
 * waits until the nearest deadline and advances whichever connection is
 * ready.  Cancel and statement_timeout interrupt the wait; every connection
 * and descriptor is then released before the error propagates.
 *
 * Memory: the query runs in libpq's single-row mode, which (checked with
 * PG15's libpq on a "BEGIN; SET LOCAL ...; SELECT ...; SELECT ...; COMMIT"
 * string) applies to every statement of a multi-statement simple query.
 * Each row is copied into palloc'd memory and its PGresult cleared at once,
 * so a project's answer costs its own size once, bounded by max_bytes; the
 * one row being received is also held by libpq (its input buffer and the
 * row's PGresult), which no client of libpq can avoid.
 *
 * Descriptors: the wait set's own (PG15's epoll set is an external FD) is
 * reserved before any connection takes one; a request that cannot have a
 * descriptor waits until another connection gives its back, so concurrency
 * is bounded by what the server can open as well as by max_active.
 *
 * Host names: libpq resolves them with a blocking getaddrinfo() inside
 * PQconnectStartParams, which a slow resolver holds for 10 s and more (no
 * timeout, no cancel, and every other project's deadline passing meanwhile).
 * With glibc, supamon looks names up itself with getaddrinfo_a() (glibc's
 * helper threads, which block every signal), polls the answers in the wait
 * loop, and gives libpq each address as hostaddr= next to its host= (so TLS
 * still verifies the name, and every address is still tried in order).
 */
#include "postgres.h"

#if defined(__GLIBC__)
#define HAVE_ASYNC_LOOKUP 1
#include <arpa/inet.h>
#include <netdb.h>
#endif

#include <poll.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/wait_event.h"

#include "conninfo_mask.h"
#include "http.h"
#include "remote.h"
#include "supamon.h"

/* How much longer than the query timeout supamon waits for any answer. */
#define QUERY_DEADLINE_GRACE_MS 1000

/* How much of a message from libpq or a project supamon keeps. */
#define MAX_ERROR_CHARS 1000

/*
 * The wait set of the running RemoteExecuteAll: file-level, so the error
 * path finds it whatever the loop was doing.
 */
static WaitEventSet *wait_set = NULL;
static int	wait_set_sockets = 0;

/*
 * Set when a connection was closed and another may take its descriptor's
 * number before the wait set notices: the set is then rebuilt.
 */
static bool sockets_replaced = false;

/*
 * Descriptors for connections: PostgreSQL's external-FD budget (a third of
 * what the server may open), or, in a process that opens no relation files
 * and raised its own limit (the collector), a count of its own.
 */
static int	own_fd_budget = 0;
static int	own_fds = 0;

/* The running RemoteExecuteAll's hooks, and whether requests are relayed. */
static RemoteHooks *running_hooks = NULL;
static bool relay_outstanding = false;

/* When the running RemoteExecuteAll's last wait began (0: none yet). */
static TimestampTz last_wait_at = 0;

/* How often the wait loop looks at relayed requests without news. */
#define RELAY_POLL_MS 1000

typedef struct RemoteResolve RemoteResolve;

static bool needs_lookup(const char *host);
static char **split_list(const char *list, int *n);
static RemoteResolve *plan_lookups(PQconninfoOption *opts);
static void start_lookups(RemoteResolve *rs);
static bool lookups_done(RemoteResolve *rs);
static void reap_orphans(void);
static void release_lookups(RemoteResolve *rs);
static char *address_lists(RemoteResolve *rs, StringInfo hosts, StringInfo addrs,
						   StringInfo ports);
static bool start_request(RemoteRequest *r, int connect_timeout_ms, int query_timeout_ms);
static void send_query(RemoteRequest *r, int query_timeout_ms);
static bool still_open(PGconn *conn);
static bool retry_fresh(RemoteRequest *r);
static void drop_notifications(PGconn *conn);
static void connect_request(RemoteRequest *r, const char *hosts, const char *addrs,
							const char *ports);
static void resolved_request(RemoteRequest *r);
static void advance_request(RemoteRequest *r, int query_timeout_ms);
static void finish_request(RemoteRequest *r, char *error);
static void collect_results(RemoteRequest *r);
static bool take_rows(RemoteRequest *r, PGresult *res);
static void free_rows(RemoteRequest *r);
static char *clean_message(RemoteRequest *r, const char *msg);
static char *libpq_error(RemoteRequest *r);
static uint32 wanted_events(RemoteRequest *r);
static void create_wait_set(int sockets);
static void free_wait_set(void);
static int	wait_for_events(RemoteRequest *reqs, int n, RemoteSideWork *side,
							WaitEvent *events, int nevents);
static bool step_all(RemoteRequest *reqs, int n, RemoteSideWork *side, int max_active,
					 int connect_timeout_ms,
					 int query_timeout_ms, WaitEvent *events, int nevents);

/*
 * Notices and warnings from a project (a COMMIT outside a transaction, a
 * deprecation) would go to the central server's stderr, raw: drop them.
 */
static void
ignore_notice(void *arg, const PGresult *res)
{
}

/*
 * A message from libpq or a project, made fit to store: secrets of the
 * request's conninfo masked, one line, valid text, capped.
 */
static char *
clean_message(RemoteRequest *r, const char *msg)
{
	char	   *masked = RemoteMaskSecrets(r->conninfo, msg ? msg : "");
	StringInfoData buf;
	bool		space = false;
	char	   *out;

	initStringInfo(&buf);
	/* libpq's continuation lines become spaces */
	for (const char *p = masked; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ')
			space = buf.len > 0;
		else
		{
			if (space)
				appendStringInfoChar(&buf, ' ');
			space = false;
			appendStringInfoChar(&buf, *p);
		}
	}
	out = SupamonCleanText(buf.len > 0 ? buf.data : "failed", MAX_ERROR_CHARS);
	pfree(masked);
	pfree(buf.data);
	return out;
}

/*
 * libpq's message about the connection, saying which host when libpq did
 * not, fit to store.
 */
static char *
libpq_error(RemoteRequest *r)
{
	PGconn	   *conn = r->conn;
	const char *msg = conn ? PQerrorMessage(conn) : NULL;
	char	   *out;
	const char *host;

	if (msg == NULL || *msg == '\0')
		return pstrdup("connection failed");
	out = clean_message(r, msg);
	host = PQhost(conn);
	if (PQstatus(conn) == CONNECTION_BAD && host && host[0] && strstr(out, host) == NULL)
	{
		char	   *where = psprintf("%s:%s: %s", host, PQport(conn) ? PQport(conn) : "", msg);

		pfree(out);
		out = clean_message(r, where);
		pfree(where);
	}
	return out;
}

/*
 * Frees the rows received so far (a failed request keeps none).
 */
static void
free_rows(RemoteRequest *r)
{
	RemoteRows *all[2] = {r->sets, r->cur};
	int			count[2] = {r->nsets, r->cur ? 1 : 0};

	for (int k = 0; k < 2; k++)
		for (int s = 0; s < count[k]; s++)
		{
			RemoteRows *rows = &all[k][s];

			if (rows->values == NULL)
				continue;
			for (int i = 0; i < rows->nrows * rows->ncols; i++)
				if (rows->values[i])
					pfree(rows->values[i]);
			pfree(rows->values);
		}
	if (r->sets)
		pfree(r->sets);
	if (r->cur)
		pfree(r->cur);
	r->sets = NULL;
	r->nsets = 0;
	r->sets_size = 0;
	r->cur = NULL;
	r->cur_size = 0;
}

/*
 * Ends a request: records the first error (already fit to store), closes
 * the connection and gives back its file descriptor.  A failed request
 * keeps no rows.
 */
static void
finish_request(RemoteRequest *r, char *error)
{
	if (retry_fresh(r))
		return;
	if (error && r->error == NULL)
		r->error = error;
	r->ok = (r->error == NULL);
	if (r->resolve)
	{
		release_lookups(r->resolve);
		r->resolve = NULL;
	}

	/*
	 * A connection kept for the next time must be idle, all of its answer
	 * read (not cut short by a bound or a timeout) and outside any
	 * transaction.
	 */
	if (r->conn && !(r->keep && r->ok && r->state == REMOTE_QUERYING &&
					 PQstatus(r->conn) == CONNECTION_OK &&
					 PQtransactionStatus(r->conn) == PQTRANS_IDLE))
	{
		PQfinish(r->conn);
		r->conn = NULL;
	}
	if (r->conn == NULL && r->holds_fd)
	{
		RemoteReleaseFD();
		r->holds_fd = false;
	}
	if (!r->ok)
		free_rows(r);
	r->elapsed_ms = (int) ((GetCurrentTimestamp() - r->started) / 1000);
	r->state = REMOTE_DONE;
	if (running_hooks && running_hooks->done)
		running_hooks->done(r, running_hooks->arg);
}

/*
 * A kept connection lost before the project said anything to the query (a
 * reset: the host rebooted, a load balancer forgot the flow; or the data
 * never acknowledged) was most likely dead before it was used: the request
 * starts again on a new connection, once.  The query is read-only.  A
 * project that answered, even with an error (a terminated backend says
 * so), and a timeout are that project's failure.  Returns whether the
 * request starts again.
 */
static bool
retry_fresh(RemoteRequest *r)
{
	if (!r->reused || r->heard || r->conn == NULL || r->state != REMOTE_QUERYING ||
		PQstatus(r->conn) != CONNECTION_BAD)
		return false;
	PQfinish(r->conn);
	r->conn = NULL;
	if (r->holds_fd)
	{
		RemoteReleaseFD();
		r->holds_fd = false;
	}
	free_rows(r);
	if (r->error)
		pfree(r->error);
	r->error = NULL;
	r->reused = false;
	r->replaced = true;
	r->flushing = false;
	r->state = REMOTE_WAITING;
	/* a new socket may take the old one's number: the wait set is rebuilt */
	sockets_replaced = true;
	return true;
}

/* libpq keeps every notification until asked: a kept connection must not. */
static void
drop_notifications(PGconn *conn)
{
	PGnotify   *n;

	while ((n = PQnotifies(conn)) != NULL)
		PQfreemem(n);
}

void
RemoteUseOwnDescriptors(int budget)
{
	own_fd_budget = budget;
}

int
RemoteDescriptorBudget(void)
{
	return own_fd_budget > 0 ? own_fd_budget : max_safe_fds / 3;
}

bool
RemoteAcquireFD(void)
{
	if (own_fd_budget <= 0)
		return AcquireExternalFD();
	if (own_fds >= own_fd_budget)
		return false;
	own_fds++;
	return true;
}

void
RemoteReleaseFD(void)
{
	if (own_fd_budget <= 0)
	{
		ReleaseExternalFD();
		return;
	}
	Assert(own_fds > 0);
	own_fds--;
}

void
RemoteFreeRows(RemoteRequest *r)
{
	free_rows(r);
}

/* ---- host name lookups ---- */

/* How often the wait loop looks at lookups in progress. */
#define LOOKUP_POLL_MS 20

#ifdef HAVE_ASYNC_LOOKUP
/*
 * One lookup, malloc'd: glibc's helper thread writes into it until it is
 * done, which may be after supamon gave up on it (a cancel, a timeout).
 */
typedef struct HostLookup
{
	struct gaicb cb;
	struct addrinfo hints;
	int			start_error;	/* getaddrinfo_a's own failure, or 0 */
	char		name[FLEXIBLE_ARRAY_MEMBER];
} HostLookup;

/* Lookups given up on while in progress, freed once glibc is done. */
static HostLookup **orphans = NULL;
static int	norphans = 0;
static int	orphans_size = 0;
#else
typedef struct HostLookup HostLookup;
#endif

/* What the conninfo's host= list becomes once looked up.  Palloc'd. */
struct RemoteResolve
{
	int			nhosts;
	char	  **hosts;			/* host= entries */
	char	  **ports;			/* the port of each, or NULL */
	HostLookup **lookups;		/* per entry; NULL: nothing to look up */
};

/* Whether a host= entry is a name to look up (not a socket, not an address). */
static bool
needs_lookup(const char *host)
{
#ifdef HAVE_ASYNC_LOOKUP
	unsigned char addr[sizeof(struct in6_addr)];

	if (host[0] == '\0' || host[0] == '/' || host[0] == '@')
		return false;
	return inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1;
#else
	return false;
#endif
}

/* The comma-separated entries of a libpq list. */
static char **
split_list(const char *list, int *n)
{
	char	  **items;
	int			count = 1;
	const char *p;
	int			i = 0;

	for (p = list; *p; p++)
		if (*p == ',')
			count++;
	items = palloc(sizeof(char *) * count);
	for (p = list;; p++)
	{
		const char *e = strchr(p, ',');

		items[i++] = e ? pnstrdup(p, e - p) : pstrdup(p);
		if (e == NULL)
			break;
		p = e;
	}
	*n = count;
	return items;
}

/*
 * The lookups a conninfo needs, or NULL when libpq may connect as it is:
 * no host name in it, hostaddr or a service given, or host and port lists
 * libpq would reject anyway.
 */
static RemoteResolve *
plan_lookups(PQconninfoOption *opts)
{
	const char *host = NULL;
	const char *port = NULL;
	RemoteResolve *rs;
	char	  **ports = NULL;
	int			nports = 0;
	bool		any = false;

	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0 || strcmp(o->keyword, "service") == 0)
			return NULL;
	}
	if (host == NULL)
		return NULL;
	rs = palloc0(sizeof(RemoteResolve));
	rs->hosts = split_list(host, &rs->nhosts);
	if (port)
		ports = split_list(port, &nports);
	if (nports > 1 && nports != rs->nhosts)
		return NULL;
	rs->ports = palloc0(sizeof(char *) * rs->nhosts);
	rs->lookups = palloc0(sizeof(HostLookup *) * rs->nhosts);
	for (int i = 0; i < rs->nhosts; i++)
	{
		rs->ports[i] = nports == 0 ? NULL : ports[nports == 1 ? 0 : i];
		if (needs_lookup(rs->hosts[i]))
			any = true;
	}
	return any ? rs : NULL;
}

/* Starts a lookup for every name to look up. */
static void
start_lookups(RemoteResolve *rs)
{
#ifdef HAVE_ASYNC_LOOKUP
	for (int i = 0; i < rs->nhosts; i++)
	{
		size_t		len = strlen(rs->hosts[i]);
		HostLookup *l;
		struct gaicb *list[1];

		if (!needs_lookup(rs->hosts[i]))
			continue;
		l = malloc(offsetof(HostLookup, name) + len + 1);
		if (l == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		memset(l, 0, offsetof(HostLookup, name));
		memcpy(l->name, rs->hosts[i], len + 1);
		l->hints.ai_family = AF_UNSPEC;
		l->hints.ai_socktype = SOCK_STREAM;
		l->cb.ar_name = l->name;
		l->cb.ar_request = &l->hints;
		rs->lookups[i] = l;
		list[0] = &l->cb;
		l->start_error = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	}
#endif
}

/* Whether every lookup has its answer. */
static bool
lookups_done(RemoteResolve *rs)
{
#ifdef HAVE_ASYNC_LOOKUP
	for (int i = 0; i < rs->nhosts; i++)
	{
		HostLookup *l = rs->lookups[i];

		if (l && l->start_error == 0 && gai_error(&l->cb) == EAI_INPROGRESS)
			return false;
	}
#endif
	return true;
}

/* Frees the lookups glibc is done with. */
static void
reap_orphans(void)
{
#ifdef HAVE_ASYNC_LOOKUP
	int			kept = 0;

	for (int i = 0; i < norphans; i++)
	{
		HostLookup *l = orphans[i];

		if (gai_error(&l->cb) == EAI_INPROGRESS)
			orphans[kept++] = l;
		else
		{
			if (l->cb.ar_result)
				freeaddrinfo(l->cb.ar_result);
			free(l);
		}
	}
	norphans = kept;
#endif
}

/*
 * Gives back the lookups: the finished ones are freed, those in progress
 * cancelled, or left to glibc until they finish.  Never raises an error, so
 * it serves the error path too.
 */
static void
release_lookups(RemoteResolve *rs)
{
#ifdef HAVE_ASYNC_LOOKUP
	for (int i = 0; i < rs->nhosts; i++)
	{
		HostLookup *l = rs->lookups[i];

		if (l == NULL)
			continue;
		rs->lookups[i] = NULL;
		if (l->start_error == 0 && gai_error(&l->cb) == EAI_INPROGRESS &&
			gai_cancel(&l->cb) != EAI_CANCELED)
		{
			if (norphans == orphans_size)
			{
				int			size = orphans_size ? orphans_size * 2 : 16;
				HostLookup **grown = realloc(orphans, sizeof(HostLookup *) * size);

				if (grown == NULL)
					continue;	/* leaked rather than freed under glibc */
				orphans = grown;
				orphans_size = size;
			}
			orphans[norphans++] = l;
			continue;
		}
		if (l->start_error == 0 && l->cb.ar_result)
			freeaddrinfo(l->cb.ar_result);
		free(l);
	}
#endif
}

/*
 * Fills the host=, hostaddr= and port= lists that make libpq try every
 * address of every entry, in order, without looking anything up.  Returns
 * NULL, or why no entry is left to try.
 */
static char *
address_lists(RemoteResolve *rs, StringInfo hosts, StringInfo addrs, StringInfo ports)
{
	char	   *why = NULL;
	int			entries = 0;

	for (int i = 0; i < rs->nhosts; i++)
	{
		HostLookup *l = rs->lookups[i];

		if (l == NULL)
		{
			appendStringInfo(hosts, "%s%s", entries ? "," : "", rs->hosts[i]);
			appendStringInfoString(addrs, entries ? "," : "");
			appendStringInfo(ports, "%s%s", entries ? "," : "", rs->ports[i] ? rs->ports[i] : "");
			entries++;
			continue;
		}
#ifdef HAVE_ASYNC_LOOKUP
		{
			int			rc = l->start_error ? l->start_error : gai_error(&l->cb);

			if (rc != 0)
			{
				if (why == NULL)
					why = psprintf("could not translate host name \"%s\" to address: %s",
								   rs->hosts[i], gai_strerror(rc));
				continue;
			}
			for (struct addrinfo *a = l->cb.ar_result; a; a = a->ai_next)
			{
				char		text[INET6_ADDRSTRLEN];
				const void *where;

				if (a->ai_family == AF_INET)
					where = &((struct sockaddr_in *) a->ai_addr)->sin_addr;
				else if (a->ai_family == AF_INET6)
					where = &((struct sockaddr_in6 *) a->ai_addr)->sin6_addr;
				else
					continue;
				if (inet_ntop(a->ai_family, where, text, sizeof(text)) == NULL)
					continue;
				appendStringInfo(hosts, "%s%s", entries ? "," : "", rs->hosts[i]);
				appendStringInfo(addrs, "%s%s", entries ? "," : "", text);
				appendStringInfo(ports, "%s%s", entries ? "," : "", rs->ports[i] ? rs->ports[i] : "");
				entries++;
			}
		}
#endif
	}
	if (entries > 0)
		return NULL;
	return why ? why : pstrdup("could not translate the host names to addresses");
}

/*
 * Connects, with the looked-up addresses when there are (NULL: none).
 */
static void
connect_request(RemoteRequest *r, const char *hosts, const char *addrs, const char *ports)
{
	/*
	 * client_encoding SQL_ASCII: the project sends its bytes unconverted, so
	 * a value that is not valid in our encoding (a SQL_ASCII project storing
	 * anything) cannot make its whole query fail; collect.c replaces what
	 * is invalid.  Supabase projects are UTF8, like most central databases.
	 */
	/*
	 * Before the conninfo, defaults it may override: TCP keepalives every
	 * minute, so that a connection kept open between checks is not
	 * forgotten by a NAT or load balancer (AWS's forget idle flows after 350
	 * s), and a bound on data left unacknowledged, so that one they forgot
	 * anyway fails fast (and is replaced) instead of looking hung.
	 */
	char		user_timeout[16];
	const char *keywords[] = {"keepalives_idle", "keepalives_interval", "keepalives_count",
		"tcp_user_timeout", "dbname", "application_name", "client_encoding",
	"host", "hostaddr", "port", NULL};
	const char *values[] = {"60", "10", "3", user_timeout, r->conninfo, "supamon", "SQL_ASCII",
	hosts, addrs, ports, NULL};

	snprintf(user_timeout, sizeof(user_timeout), "%d",
			 Max(1000, Min(10000, r->query_timeout_ms / 3)));
	if (hosts == NULL)
		keywords[7] = values[7] = NULL;

	/* later keywords override what the conninfo says */
	r->conn = PQconnectStartParams(keywords, values, 1);
	if (r->conn == NULL)
	{
		finish_request(r, pstrdup("out of memory"));
		return;
	}
	PQsetNoticeReceiver(r->conn, ignore_notice, NULL);
	if (PQstatus(r->conn) == CONNECTION_BAD)
	{
		finish_request(r, libpq_error(r));
		return;
	}
	if (PQsetnonblocking(r->conn, 1) != 0)
	{
		finish_request(r, pstrdup("could not set the connection to non-blocking mode"));
		return;
	}
	r->polling = PGRES_POLLING_WRITING;
	r->state = REMOTE_CONNECTING;
}

/*
 * Once its lookups are done, connects a resolving request to the addresses
 * found.
 */
static void
resolved_request(RemoteRequest *r)
{
	StringInfoData hosts;
	StringInfoData addrs;
	StringInfoData ports;
	char	   *why;

	initStringInfo(&hosts);
	initStringInfo(&addrs);
	initStringInfo(&ports);
	why = address_lists(r->resolve, &hosts, &addrs, &ports);
	release_lookups(r->resolve);
	r->resolve = NULL;
	if (why)
	{
		finish_request(r, clean_message(r, why));
		return;
	}
	connect_request(r, hosts.data, addrs.data, ports.data);
}

/*
 * Whether a connection string is only blanks: libpq parses that, and would
 * quietly connect with its defaults (a local socket, the OS user's name).
 */
bool
RemoteConninfoIsBlank(const char *conninfo)
{
	return strspn(conninfo, " \t\r\n") == strlen(conninfo);
}

/*
 * What is wrong with a parsed connection string that libpq accepts, or
 * NULL.  A host name never holds "@": there, libpq took the first "@" of a
 * URI password as the end of the user part, and the rest of the password
 * would travel as a host name into DNS and into every error about it.
 */
const char *
RemoteConninfoProblem(PQconninfoOption *opts)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && strcmp(o->keyword, "host") == 0 && strchr(o->val, '@'))
			return "a host name holds \"@\" (in a URI, write an \"@\" of the password as %40)";
	return NULL;
}

/*
 * Starts a request: looks its host names up, or connects.  Returns false,
 * leaving the request waiting, when no file descriptor is free for it.
 */
static bool
start_request(RemoteRequest *r, int connect_timeout_ms, int query_timeout_ms)
{
	PQconninfoOption *volatile opts;
	char	   *err = NULL;
	TimestampTz now = GetCurrentTimestamp();

	r->started = now;
	if (r->reuse)
	{
		PGconn	   *conn = r->reuse;

		r->reuse = NULL;
		if (still_open(conn))
		{
			r->conn = conn;
			r->holds_fd = true;
			r->reused = true;
			send_query(r, query_timeout_ms);
			return true;
		}

		/*
		 * Closed while it sat idle (the project restarted, a pooler or
		 * idle_session_timeout ended it): a new connection takes its
		 * descriptor.  A connection that fails once the query is sent is
		 * that project's failure, as any other.
		 */
		PQfinish(conn);
		RemoteReleaseFD();
		r->replaced = true;
	}

	/*
	 * The conninfo was checked when it was added, but the table can be
	 * written behind supamon's back; one that no longer parses would also be
	 * taken for a database name by expand_dbname.
	 */
	if (r->conninfo == NULL || RemoteConninfoIsBlank(r->conninfo))
	{
		finish_request(r, pstrdup("invalid connection string: it is empty"));
		return true;
	}
	opts = PQconninfoParse(r->conninfo, &err);
	if (opts == NULL)
	{
		char	   *why = psprintf("invalid connection string: %s",
								   err ? err : "out of memory");

		if (err)
			PQfreemem(err);
		finish_request(r, clean_message(r, why));
		return true;
	}
	{
		const char *problem = RemoteConninfoProblem(opts);

		if (problem)
		{
			PQconninfoFree(opts);
			finish_request(r, psprintf("invalid connection string: %s", problem));
			return true;
		}
	}
	if (!RemoteAcquireFD())
	{
		PQconninfoFree(opts);
		return false;
	}
	r->holds_fd = true;
	r->deadline = TimestampTzPlusMilliseconds(now, connect_timeout_ms);

	PG_TRY();
	{
		r->resolve = plan_lookups(opts);
	}
	PG_FINALLY();
	{
		PQconninfoFree(opts);
	}
	PG_END_TRY();
	if (r->resolve)
	{
		r->state = REMOTE_RESOLVING;
		start_lookups(r->resolve);
		return true;
	}
	connect_request(r, NULL, NULL, NULL);
	return true;
}

/*
 * Copies the rows of a result into the set being received, counting their
 * bytes.  Returns false (the request is then finished) when they would go
 * beyond max_bytes.
 */
static bool
take_rows(RemoteRequest *r, PGresult *res)
{
	int			nrows = PQntuples(res);
	int			ncols = PQnfields(res);
	RemoteRows *cur;

	if (r->cur == NULL)
	{
		r->cur = MemoryContextAllocZero(r->cxt, sizeof(RemoteRows));
		r->cur->ncols = ncols;
	}
	cur = r->cur;
	for (int row = 0; row < nrows; row++)
	{
		int64		rowbytes = 0;
		char	  **dst;

		for (int col = 0; col < ncols; col++)
			rowbytes += PQgetlength(res, row, col);
		if (r->max_bytes > 0 && r->bytes + rowbytes > r->max_bytes)
		{
			r->bytes += rowbytes;
			finish_request(r, psprintf("the project's answer exceeds %.3g MB",
									   (double) r->max_bytes / (1024.0 * 1024.0)));
			return false;
		}
		r->bytes += rowbytes;
		if (cur->nrows == r->cur_size)
		{
			int			size = r->cur_size ? r->cur_size * 2 : 16;

			if ((Size) size * Max(ncols, 1) > MaxAllocSize / sizeof(char *))
			{
				finish_request(r, pstrdup("the project's answer has too many rows"));
				return false;
			}
			if (cur->values)
				cur->values = repalloc(cur->values, sizeof(char *) * size * Max(ncols, 1));
			else
				cur->values = MemoryContextAlloc(r->cxt, sizeof(char *) * size * Max(ncols, 1));
			r->cur_size = size;
		}
		dst = &cur->values[cur->nrows * ncols];
		for (int col = 0; col < ncols; col++)
		{
			if (PQgetisnull(res, row, col))
				dst[col] = NULL;
			else
			{
				int			len = PQgetlength(res, row, col);

				dst[col] = MemoryContextAlloc(r->cxt, len + 1);
				memcpy(dst[col], PQgetvalue(res, row, col), len);
				dst[col][len] = '\0';
			}
		}
		cur->nrows++;
	}
	return true;
}

/*
 * Takes every result that is complete without blocking, row by row; the
 * request is done when libpq has no more.
 */
static void
collect_results(RemoteRequest *r)
{
	while (r->state == REMOTE_QUERYING && !PQisBusy(r->conn))
	{
		PGresult   *res = PQgetResult(r->conn);
		ExecStatusType status;

		if (res == NULL)
		{
			finish_request(r, NULL);
			return;
		}
		status = PQresultStatus(res);
		/* libpq's own errors (a lost connection) carry no SQLSTATE */
		if (status != PGRES_FATAL_ERROR || PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL)
			r->heard = true;
		drop_notifications(r->conn);
		switch (status)
		{
			case PGRES_SINGLE_TUPLE:
				if (!take_rows(r, res))
				{
					PQclear(res);
					return;
				}
				break;
			case PGRES_TUPLES_OK:
				/* the end of a set (rows only if single-row mode was off) */
				if (!take_rows(r, res))
				{
					PQclear(res);
					return;
				}
				if (r->error == NULL)
				{
					if (r->nsets == r->sets_size)
					{
						int			size = r->sets_size ? r->sets_size * 2 : 8;

						if (r->sets)
							r->sets = repalloc(r->sets, sizeof(RemoteRows) * size);
						else
							r->sets = MemoryContextAlloc(r->cxt, sizeof(RemoteRows) * size);
						r->sets_size = size;
					}
					r->sets[r->nsets++] = *r->cur;
					pfree(r->cur);
					r->cur = NULL;
					r->cur_size = 0;
				}
				break;
			case PGRES_FATAL_ERROR:
				if (r->error == NULL)
				{
					const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

					if (primary == NULL || primary[0] == '\0')
						primary = PQresultErrorMessage(res);
					r->error = clean_message(r, primary && primary[0] ? primary : "query failed");
				}
				/* a set cut short by the error is no set */
				free_rows(r);
				break;
			case PGRES_COPY_IN:
			case PGRES_COPY_OUT:
			case PGRES_COPY_BOTH:
				PQclear(res);
				finish_request(r, pstrdup("unexpected COPY from the server"));
				return;
			default:
				/* PGRES_COMMAND_OK and the like: no set */
				break;
		}
		PQclear(res);
	}
}

/*
 * Whether an idle connection is still open: nothing is due from an idle
 * server but what it sends when it goes (an error, then the end of the
 * stream), or a notice; so a socket with nothing to read is taken as open.
 */
static bool
still_open(PGconn *conn)
{
	struct pollfd p;

	if (PQstatus(conn) != CONNECTION_OK || PQsocket(conn) < 0)
		return false;
	p.fd = PQsocket(conn);
	p.events = POLLIN;

	/*
	 * libpq takes a server's farewell error on an idle connection as a
	 * notice, and sees the end of the stream only at the read after: read
	 * until nothing is left.
	 */
	for (int i = 0; i < 8; i++)
	{
		p.revents = 0;
		if (poll(&p, 1, 0) == 0)
			return PQtransactionStatus(conn) == PQTRANS_IDLE && !PQisBusy(conn);
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
			return false;
		drop_notifications(conn);
	}
	return false;				/* it keeps talking: not idle */
}

/*
 * Sends the request's query over its connection, to be read row by row.
 */
static void
send_query(RemoteRequest *r, int query_timeout_ms)
{
	char	   *made = r->sql == NULL ? r->make_sql(r->sql_source) : NULL;
	int			sent;

	r->state = REMOTE_QUERYING;
	r->flushing = true;
	/* libpq copies the text into its output buffer */
	sent = PQsendQuery(r->conn, made ? made : r->sql);
	if (made)
		pfree(made);
	if (!sent)
	{
		finish_request(r, libpq_error(r));
		return;
	}
	if (!PQsetSingleRowMode(r->conn))
	{
		finish_request(r, pstrdup("could not read the answer row by row"));
		return;
	}

	/*
	 * The project's statement_timeout (set by the query) should fire first,
	 * with its clearer message; this deadline, a second later, catches a
	 * server that does not answer at all.
	 */
	r->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											  query_timeout_ms + QUERY_DEADLINE_GRACE_MS);
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

		/*
		 * libpq may have moved to the next address on a new socket, which can
		 * reuse the old one's number: register it again to be sure.
		 */
		r->registered = PGINVALID_SOCKET;
		if (r->polling == PGRES_POLLING_FAILED)
		{
			finish_request(r, libpq_error(r));
			return;
		}
		if (r->polling != PGRES_POLLING_OK)
			return;
		send_query(r, query_timeout_ms);
		if (r->state != REMOTE_QUERYING)
			return;
	}

	if (r->flushing)
	{
		int			rc = PQflush(r->conn);

		if (rc < 0)
		{
			finish_request(r, libpq_error(r));
			return;
		}
		r->flushing = (rc == 1);
	}
	if (!PQconsumeInput(r->conn))
	{
		finish_request(r, libpq_error(r));
		return;
	}
	collect_results(r);
}

/* What a request's socket is waited for. */
static uint32
wanted_events(RemoteRequest *r)
{
	if (r->state == REMOTE_CONNECTING)
		return r->polling == PGRES_POLLING_READING ?
			WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
	return WL_SOCKET_READABLE | (r->flushing ? WL_SOCKET_WRITEABLE : 0);
}

/*
 * Creates the wait set with room for the latch, postmaster death and
 * 'sockets' sockets.  The caller has made sure a descriptor is free for it.
 */
static void
create_wait_set(int sockets)
{
	Assert(wait_set == NULL);
#if PG_VERSION_NUM >= 170000
	wait_set = CreateWaitEventSet(CurrentResourceOwner, sockets + 2);
#else
	wait_set = CreateWaitEventSet(CurrentMemoryContext, sockets + 2);
#endif
	wait_set_sockets = sockets;
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	/* (a single-user backend has no postmaster to watch) */
	if (IsUnderPostmaster)
		AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
}

/* Frees the wait set and its descriptor; safe to call when there is none. */
static void
free_wait_set(void)
{
	if (wait_set)
	{
		WaitEventSet *set = wait_set;

		wait_set = NULL;
		FreeWaitEventSet(set);
	}
}

/*
 * Waits until a socket of an active request is ready, the latch is set, or
 * the nearest deadline passes; returns the number of events.  The set is
 * rebuilt when the active sockets changed (a set cannot drop a socket), and
 * only adjusted when just what they wait for did.
 */
static int
wait_for_events(RemoteRequest *reqs, int n, RemoteSideWork *side, WaitEvent *events,
				int nevents)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz nearest = 0;
	bool		rebuild = false;
	bool		polling = false;
	long		timeout;

	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];
		bool		active = r->state == REMOTE_CONNECTING || r->state == REMOTE_QUERYING;

		if (active && PQsocket(r->conn) == PGINVALID_SOCKET)
		{
			finish_request(r, libpq_error(r));
			active = false;
		}
		/*
		 * Only a socket to add rebuilds the set: one that left it (its
		 * request done) is ignored until then, closed sockets leave epoll by
		 * themselves, and an event from an open one forces the rebuild.  So
		 * N finishing requests do not cost N rebuilds of the whole set.
		 */
		if (active && r->registered != PQsocket(r->conn))
			rebuild = true;
	}
	if (side && HttpSocketsChanged(side->http))
		rebuild = true;
	if (rebuild || sockets_replaced)
	{
		sockets_replaced = false;
		/* its descriptor is given back first, so the new set finds one */
		free_wait_set();
		create_wait_set(wait_set_sockets);
		for (int i = 0; i < n; i++)
		{
			RemoteRequest *r = &reqs[i];

			r->registered = PGINVALID_SOCKET;
			if (r->state != REMOTE_CONNECTING && r->state != REMOTE_QUERYING)
				continue;
			r->event_mask = wanted_events(r);
			r->event_pos = AddWaitEventToSet(wait_set, r->event_mask, PQsocket(r->conn), NULL, r);
			r->registered = PQsocket(r->conn);
		}
		if (side)
			HttpAddSockets(side->http, wait_set, side);
	}
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if (r->state == REMOTE_RESOLVING)
		{
			/* glibc tells nobody when an answer comes: look again soon */
			polling = true;
			if (nearest == 0 || r->deadline < nearest)
				nearest = r->deadline;
		}
		if (r->registered == PGINVALID_SOCKET ||
			(r->state != REMOTE_CONNECTING && r->state != REMOTE_QUERYING))
			continue;
		if (wanted_events(r) != r->event_mask)
		{
			r->event_mask = wanted_events(r);
			ModifyWaitEvent(wait_set, r->event_pos, r->event_mask, NULL);
		}
		if (nearest == 0 || r->deadline < nearest)
			nearest = r->deadline;
	}
	last_wait_at = now;
	timeout = nearest == 0 ? -1 : nearest > now ? (long) ((nearest - now + 999) / 1000) : 0;
	if (relay_outstanding)
		timeout = timeout < 0 ? RELAY_POLL_MS : Min(timeout, RELAY_POLL_MS);
	if (polling)
		timeout = timeout < 0 ? LOOKUP_POLL_MS : Min(timeout, LOOKUP_POLL_MS);
	if (side)
	{
		long		http = HttpTimeout(side->http);

		if (http >= 0 && (timeout < 0 || http < timeout))
			timeout = http;
	}
	return WaitEventSetWait(wait_set, timeout, events, nevents, PG_WAIT_EXTENSION);
}

/*
 * One turn of the loop: time out, start, wait, advance.  Returns false when
 * every request is done.
 */
static bool
step_all(RemoteRequest *reqs, int n, RemoteSideWork *side, int max_active,
		 int connect_timeout_ms, int query_timeout_ms, WaitEvent *events, int nevents)
{
	int			active = 0;
	bool		waiting = false;
	TimestampTz waited;
	int			nready;
	int			relayed = 0;

	CHECK_FOR_INTERRUPTS();
	if (running_hooks && running_hooks->relay)
		relayed = running_hooks->relay(reqs, n, running_hooks->arg);
	relay_outstanding = relayed > 0;
	if (running_hooks && running_hooks->settle)
		running_hooks->settle(reqs, n, running_hooks->arg);

	/*
	 * A deadline counts as missed only if it had passed when the last wait
	 * began: one that passed while this process was busy (recording what
	 * came, or the collector sending an answer the check was slow to take)
	 * first gets a wait, which reads whatever arrived meanwhile.
	 */
	waited = last_wait_at;

	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if ((r->state == REMOTE_RESOLVING || r->state == REMOTE_CONNECTING ||
			 r->state == REMOTE_QUERYING) && waited >= r->deadline)
			finish_request(r, r->state != REMOTE_QUERYING ?
						   psprintf("timed out connecting after %d ms", connect_timeout_ms) :
						   psprintf("no answer within %d ms", query_timeout_ms + QUERY_DEADLINE_GRACE_MS));
	}

	for (int i = 0; i < n; i++)
		if (reqs[i].state == REMOTE_RESOLVING || reqs[i].state == REMOTE_CONNECTING ||
			reqs[i].state == REMOTE_QUERYING)
			active++;
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if (r->state != REMOTE_WAITING)
			continue;
		/* held back only while something is in flight: never a loop with nothing to wait for */
		if (active >= max_active ||
			(active > 0 && running_hooks && running_hooks->may_start &&
			 !running_hooks->may_start(running_hooks->arg)))
		{
			waiting = true;
			break;
		}
		if (!start_request(r, connect_timeout_ms, query_timeout_ms) &&
			!(running_hooks && running_hooks->need_fd &&
			  running_hooks->need_fd(reqs, n, running_hooks->arg) &&
			  start_request(r, connect_timeout_ms, query_timeout_ms)))
		{
			/* no descriptor: wait for one of the active to give its back */
			if (active == 0 && relayed == 0 && !(side && side->busy))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
						 errmsg("supamon: no file descriptor is free to connect to a project"),
						 errdetail("This server process may use %d descriptors for connections and the like, and they are taken.",
								   RemoteDescriptorBudget()),
						 errhint("Raise max_files_per_process.")));
			waiting = true;
			break;
		}
		if (r->state != REMOTE_DONE)
			active++;
	}
	/* the side's requests start once the connections have their descriptors */
	if (side && !side->started)
	{
		side->started = true;
		side->busy = side->step(side->arg);
	}
	if (active == 0 && relayed == 0 && (side == NULL || !side->busy))
		return waiting;

	nready = wait_for_events(reqs, n, side, events, nevents);
	for (int e = 0; e < nready; e++)
	{
		if (events[e].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		else if (side && events[e].user_data == side)
			HttpSocketEvent(side->http, &events[e]);
		else if (events[e].user_data != NULL)
		{
			RemoteRequest *r = events[e].user_data;

			if (r->state == REMOTE_CONNECTING || r->state == REMOTE_QUERYING)
				advance_request(r, query_timeout_ms);
			else
				sockets_replaced = true;	/* a done request's: out at the next turn */
		}
	}
	for (int i = 0; i < n; i++)
		if (reqs[i].state == REMOTE_RESOLVING && lookups_done(reqs[i].resolve))
			resolved_request(&reqs[i]);
	if (side)
	{
		HttpAfterWait(side->http);
		if (side->busy)
			side->busy = side->step(side->arg);
	}
	return true;
}

void
RemoteExecuteAll(RemoteRequest *reqs, int n, int max_active,
				 int connect_timeout_ms, int query_timeout_ms, RemoteSideWork *side,
				 RemoteHooks *hooks)
{
	int			sockets;
	int			nevents;
	WaitEvent  *events;

	if (n <= 0 && side == NULL)
		return;
	max_active = Max(max_active, 1);
	sockets = Min(n, max_active) + (side ? HttpMaxSockets(side->http) : 0);
	nevents = sockets + 2;
	events = palloc(sizeof(WaitEvent) * nevents);
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		r->state = REMOTE_WAITING;
		r->ok = false;
		r->error = NULL;
		r->sets = NULL;
		r->nsets = 0;
		r->bytes = 0;
		r->elapsed_ms = 0;
		r->reused = false;
		r->replaced = false;
		r->heard = false;
		r->query_timeout_ms = query_timeout_ms;
		r->conn = NULL;
		r->holds_fd = false;
		r->cxt = CurrentMemoryContext;
		r->sets_size = 0;
		r->cur = NULL;
		r->cur_size = 0;
		r->registered = PGINVALID_SOCKET;
		r->resolve = NULL;
	}
	reap_orphans();

	/*
	 * The wait set's descriptor first: without it nothing can be waited for,
	 * and PG15's own error for it ("epoll_create1 failed") says little.
	 */
	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("supamon: no file descriptor is free to wait for projects"),
				 errdetail("This server process may use %d descriptors for connections and the like, and they are taken.",
						   RemoteDescriptorBudget()),
				 errhint("Raise max_files_per_process.")));
	ReleaseExternalFD();

	running_hooks = hooks;
	relay_outstanding = false;
	last_wait_at = 0;
	PG_TRY();
	{
		create_wait_set(sockets);
		if (side)
			side->started = side->busy = false;
		while (step_all(reqs, n, side, max_active, connect_timeout_ms, query_timeout_ms,
						events, nevents))
			;
	}
	PG_CATCH();
	{
		running_hooks = NULL;
		relay_outstanding = false;
		free_wait_set();
		if (hooks && hooks->release)
			hooks->release(hooks->arg);
		RemoteReleaseAll(reqs, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	running_hooks = NULL;
	relay_outstanding = false;
	free_wait_set();
	pfree(events);
}

void
RemoteReleaseAll(RemoteRequest *reqs, int n)
{
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if (r->state != REMOTE_DONE && r->resolve)
			release_lookups(r->resolve);
		r->resolve = NULL;
		/* a kept connection lent to a request that never started */
		if (r->reuse)
		{
			PQfinish(r->reuse);
			r->reuse = NULL;
			RemoteReleaseFD();
		}
		if (r->conn)
		{
			PQfinish(r->conn);
			r->conn = NULL;
		}
		if (r->holds_fd)
		{
			RemoteReleaseFD();
			r->holds_fd = false;
		}
		r->registered = PGINVALID_SOCKET;
		if (r->state != REMOTE_DONE)
		{
			/* interrupted: what it was receiving is no answer */
			if (r->cxt)
				free_rows(r);
			r->ok = false;
			r->state = REMOTE_DONE;
		}
	}
}

/*
 * The masking is pure C (conninfo_mask.c, unit tested outside the server);
 * here libpq's own reading of the conninfo, when it has one, adds the
 * values it would really use: the secrets, to be masked wherever they are,
 * and the other options' values, which may be shown where libpq quotes them.
 */
char *
RemoteMaskSecrets(const char *conninfo, const char *message)
{
	PQconninfoOption *opts = NULL;
	const char *secrets[8];
	const char *shown[128];
	ConninfoMaskHints hints = {secrets, 0, shown, 0};
	char	   *err = NULL;
	char	   *masked;
	char	   *out;

	if (conninfo)
		opts = PQconninfoParse(conninfo, &err);
	if (err)
		PQfreemem(err);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strchr(o->dispchar, '*') || strcmp(o->keyword, "password") == 0 ||
			strcmp(o->keyword, "sslpassword") == 0)
		{
			if (hints.nsecrets < (int) lengthof(secrets))
				secrets[hints.nsecrets++] = o->val;
		}
		else
		{
			/* and each entry of a list (host=a,b), as libpq names them */
			for (char *v = o->val; v && hints.nshown < (int) lengthof(shown);)
			{
				char	   *comma = strchr(v, ',');

				shown[hints.nshown++] = comma ? pnstrdup(v, comma - v) : v;
				v = comma ? comma + 1 : NULL;
			}
			if (hints.nshown < (int) lengthof(shown) && strchr(o->val, ','))
				shown[hints.nshown++] = o->val;
		}
	}
	masked = ConninfoMask(conninfo, message ? message : "", &hints);
	if (opts)
		PQconninfoFree(opts);
	if (masked == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	out = pstrdup(masked);
	free(masked);
	return out;
}
