/*
 * pool.c
 *		Project connections kept open across checks.
 *
 * A check runs in whatever backend calls it (pg_cron starts a new one each
 * minute), so a connection it opens dies with it: every check would pay a
 * project's TCP, TLS and SCRAM round trips and their CPU again.  With
 * supamon preloaded, the collector, a background process of its own (no
 * database), keeps one connection per project open between checks and runs
 * the check's queries over them.
 *
 * Hand-over: the check writes its requests (project, conninfo, query,
 * bounds) into a DSM segment and queues it in one of a few shared slots; the
 * collector runs them all at once through remote.c (the same code the check
 * uses on its own) and sends each answer back through a shm_mq in that
 * segment as it finishes, so neither process holds every project's answer
 * at once.  The check waits for the answers in its own loop, with its
 * Management API requests, and stays cancellable: giving up marks the
 * session abandoned, and the collector drops it (closing the connections
 * it had in flight).  Whatever the collector cannot serve (not running,
 * every slot taken for long, gone mid-way) the check runs itself, as without
 * preloading.
 *
 * Connections: keyed by database and project name, reused only with the
 * same conninfo; a reused connection found dead is replaced once
 * (remote.c); closed after supamon.idle_connection_timeout unused, when the
 * project is removed, and when the collector's descriptors run short
 * (least recently used first).
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xact.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "collect.h"
#include "pool.h"
#include "supamon.h"

/* Checks that can be queued for the collector at once. */
#define POOL_SLOTS 8

/* Removed projects whose connections wait to be closed. */
#define POOL_FORGET 32

/*
 * The collector's descriptor limit, raised to this when the hard limit
 * allows: a project's kept connection is one descriptor.
 */
#define COLLECTOR_MAX_FDS 65536

/* How long a check waits for the collector to take its session. */
#define POOL_QUEUE_WAIT_MS 2000

/* Room for the answers in flight between the processes. */
#define POOL_QUEUE_BYTES (256 * 1024)

int			supamon_idle_connection_timeout = 600;

typedef enum PoolSlotState
{
	SLOT_FREE,
	SLOT_QUEUED,
	SLOT_SERVING
} PoolSlotState;

typedef struct PoolSlot
{
	PoolSlotState state;
	dsm_handle	handle;
	uint64		ticket;			/* whose session it holds */
} PoolSlot;

typedef struct PoolShared
{
	slock_t		mutex;
	pid_t		collector_pid;	/* 0 while no collector runs */
	Latch	   *collector_latch;
	uint64		next_ticket;
	PoolSlot	slots[POOL_SLOTS];
	int			nforget;
	bool		forget_all;		/* the list overflowed */
	struct
	{
		Oid			db;
		uint64		name_hash;
	}			forget[POOL_FORGET];
} PoolShared;

static PoolShared *pool = NULL;

/* A session in its DSM segment: this header, the items, strings, the queue. */
typedef struct PoolSession
{
	pg_atomic_uint32 abandoned; /* the check gave up on it (or ended) */
	pg_atomic_uint32 answered;	/* the check has every answer */
	Oid			db;
	int			n;
	int			max_active;
	int			connect_timeout_ms;
	int			query_timeout_ms;
	Size		queue_offset;
} PoolSession;

typedef struct PoolItem
{
	int64		max_bytes;
	uint64		name_hash;
	Size		conninfo_offset;
	Size		params_offset;	/* a CollectParams, then its open runs */
} PoolItem;

/*
 * What an item takes in the segment besides itself: its conninfo, its
 * collection's parameters (the text is made by the collector when it sends
 * it, so that the segment does not grow by the text's few kB a project).
 */
static Size
item_size(const RemoteRequest *r)
{
	const CollectParams *cp = r->sql_source;

	if (r->sql != NULL || r->make_sql != CollectSqlOf)
		elog(ERROR, "supamon's collector carries only collection requests");
	return MAXALIGN(strlen(r->conninfo) + 1) + MAXALIGN(sizeof(CollectParams)) +
		MAXALIGN(sizeof(int64) * cp->nopen);
}

static uint64
name_hash(const char *name)
{
	return hash_bytes_extended((const unsigned char *) name, strlen(name), 0);
}

Size
PoolShmemSize(void)
{
	return MAXALIGN(sizeof(PoolShared));
}

/* Called by supamon's shared-memory start-up, under AddinShmemInitLock. */
void
PoolShmemInit(void)
{
	bool		found;

	pool = ShmemInitStruct("supamon pool", sizeof(PoolShared), &found);
	if (!found)
	{
		memset(pool, 0, sizeof(PoolShared));
		SpinLockInit(&pool->mutex);
	}
}

/* ---- the check's side ---- */

/* What the check's relay keeps between turns of remote.c's loop. */
typedef struct PoolClient
{
	bool		started;
	dsm_segment *seg;
	shm_mq_handle *mqh;
	int			slot;
	uint64		ticket;
	pid_t		collector;
	int			nitems;
	int		   *req_of;			/* item -> request */
	int			outstanding;
	TimestampTz queued_at;
	TimestampTz deadline;		/* the collector is taken for stuck after it */
	const char **names;
	const PoolListener *listener;
	bool	   *told;			/* request -> answered was called */
} PoolClient;

/* Gives the session up (the collector drops it); safe to call twice. */
static void
client_release(void *arg)
{
	PoolClient *c = arg;

	if (c->seg == NULL)
		return;
	SpinLockAcquire(&pool->mutex);
	if (pool->slots[c->slot].ticket == c->ticket &&
		pool->slots[c->slot].state == SLOT_QUEUED)
		pool->slots[c->slot].state = SLOT_FREE;
	SpinLockRelease(&pool->mutex);
	/* every answer in: the collector is done with it, and keeps its connections */
	if (c->outstanding == 0)
		pg_atomic_write_u32(&((PoolSession *) dsm_segment_address(c->seg))->answered, 1);
	dsm_detach(c->seg);
	c->seg = NULL;
	c->mqh = NULL;
}

/*
 * The check's segment is detached: on every path, a FATAL exit included.
 * Unless every answer came, the collector is told to drop the session.
 */
static void
client_detached(dsm_segment *seg, Datum arg)
{
	PoolSession *s = (PoolSession *) DatumGetPointer(arg);

	if (pg_atomic_read_u32(&s->answered) == 0)
	{
		pg_atomic_write_u32(&s->abandoned, 1);
		if (pool->collector_latch)
			SetLatch(pool->collector_latch);
	}
}

/* Puts every request still out back to be run here. */
static void
client_fall_back(PoolClient *c, RemoteRequest *reqs)
{
	for (int i = 0; i < c->nitems; i++)
	{
		RemoteRequest *r = &reqs[c->req_of[i]];

		if (r->state == REMOTE_RELAYED)
			r->state = REMOTE_WAITING;
	}
	client_release(c);
	c->outstanding = 0;
}

/*
 * How long the collector may go without sending an answer: its own timeouts
 * end every request before (a connection, then the query), however many
 * wait their turn.
 */
static int
silence_allowed(void)
{
	return supamon_connect_timeout + supamon_query_timeout + 5000;
}

/* Writes the session's requests into a new segment and queues it. */
static bool
client_start(PoolClient *c, RemoteRequest *reqs, int n)
{
	Size		size;
	Size		off;
	char	   *base;
	PoolSession *s;
	PoolItem   *items;
	shm_mq	   *mq;
	int			slot = -1;

	if (pool == NULL || pool->collector_pid == 0)
		return false;
	c->req_of = palloc(sizeof(int) * Max(n, 1));
	c->nitems = 0;
	size = MAXALIGN(sizeof(PoolSession));
	for (int i = 0; i < n; i++)
	{
		if (reqs[i].state != REMOTE_WAITING || reqs[i].conninfo == NULL)
			continue;
		c->req_of[c->nitems++] = i;
		size += sizeof(PoolItem) + item_size(&reqs[i]);
	}
	if (c->nitems == 0)
		return false;
	size = MAXALIGN(size + sizeof(PoolItem));
	c->seg = dsm_create(size + POOL_QUEUE_BYTES, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (c->seg == NULL)
		return false;
	base = dsm_segment_address(c->seg);
	s = (PoolSession *) base;
	pg_atomic_init_u32(&s->abandoned, 0);
	pg_atomic_init_u32(&s->answered, 0);
	on_dsm_detach(c->seg, client_detached, PointerGetDatum(s));
	s->db = MyDatabaseId;
	s->n = c->nitems;
	s->max_active = supamon_max_connections;
	s->connect_timeout_ms = supamon_connect_timeout;
	s->query_timeout_ms = supamon_query_timeout;
	items = (PoolItem *) (base + MAXALIGN(sizeof(PoolSession)));
	off = MAXALIGN(MAXALIGN(sizeof(PoolSession)) + sizeof(PoolItem) * c->nitems);
	for (int k = 0; k < c->nitems; k++)
	{
		RemoteRequest *r = &reqs[c->req_of[k]];
		const CollectParams *cp = r->sql_source;
		CollectParams *shared;
		Size		len;

		items[k].max_bytes = r->max_bytes;
		items[k].name_hash = name_hash(c->names[c->req_of[k]]);

		len = strlen(r->conninfo) + 1;
		memcpy(base + off, r->conninfo, len);
		items[k].conninfo_offset = off;
		off += MAXALIGN(len);
		shared = (CollectParams *) (base + off);
		*shared = *cp;
		shared->open_runs = NULL;	/* the collector's pointer is its own */
		items[k].params_offset = off;
		off += MAXALIGN(sizeof(CollectParams));
		if (cp->nopen > 0)
			memcpy(base + off, cp->open_runs, sizeof(int64) * cp->nopen);
		off += MAXALIGN(sizeof(int64) * cp->nopen);
	}
	s->queue_offset = size;
	mq = shm_mq_create(base + size, POOL_QUEUE_BYTES);
	shm_mq_set_receiver(mq, MyProc);
	c->mqh = shm_mq_attach(mq, c->seg, NULL);

	SpinLockAcquire(&pool->mutex);
	for (int i = 0; i < POOL_SLOTS && pool->collector_pid != 0; i++)
		if (pool->slots[i].state == SLOT_FREE)
		{
			slot = i;
			pool->slots[i].state = SLOT_QUEUED;
			pool->slots[i].handle = dsm_segment_handle(c->seg);
			pool->slots[i].ticket = c->ticket = ++pool->next_ticket;
			break;
		}
	c->collector = pool->collector_pid;
	SpinLockRelease(&pool->mutex);
	if (slot < 0)
	{
		dsm_detach(c->seg);
		c->seg = NULL;
		return false;
	}
	c->slot = slot;
	if (pool->collector_latch)
		SetLatch(pool->collector_latch);
	for (int k = 0; k < c->nitems; k++)
		reqs[c->req_of[k]].state = REMOTE_RELAYED;
	c->outstanding = c->nitems;
	c->queued_at = GetCurrentTimestamp();

	c->deadline = TimestampTzPlusMilliseconds(c->queued_at, POOL_QUEUE_WAIT_MS + silence_allowed());
	return true;
}

/* Reads a fixed-size value from an answer, or fails. */
static const char *
take(const char *p, const char *end, void *out, Size len)
{
	if (p == NULL || end - p < (ptrdiff_t) len)
		elog(ERROR, "supamon: the collector's answer is cut short");
	memcpy(out, p, len);
	return p + len;
}

/* A string of an answer (-1: NULL), palloc'd in cxt. */
static const char *
take_string(const char *p, const char *end, char **out, MemoryContext cxt)
{
	int32		len;

	p = take(p, end, &len, sizeof(len));
	if (len < 0)
	{
		*out = NULL;
		return p;
	}
	if (end - p < len)
		elog(ERROR, "supamon: the collector's answer is cut short");
	*out = MemoryContextAlloc(cxt, len + 1);
	memcpy(*out, p, len);
	(*out)[len] = '\0';
	return p + len;
}

/* Fills a request from the collector's answer. */
static void
client_answer(PoolClient *c, RemoteRequest *reqs, const char *p, Size len)
{
	const char *end = p + len;
	int32		item,
				ok,
				elapsed,
				reused,
				nsets;
	int64		bytes;
	RemoteRequest *r;

	p = take(p, end, &item, sizeof(item));
	if (item < 0 || item >= c->nitems)
		elog(ERROR, "supamon: the collector answered for no request");
	r = &reqs[c->req_of[item]];
	if (r->state != REMOTE_RELAYED)
		elog(ERROR, "supamon: the collector answered twice");
	p = take(p, end, &ok, sizeof(ok));
	p = take(p, end, &elapsed, sizeof(elapsed));
	p = take(p, end, &reused, sizeof(reused));
	p = take(p, end, &bytes, sizeof(bytes));
	p = take_string(p, end, &r->error, r->cxt);
	p = take(p, end, &nsets, sizeof(nsets));
	if (nsets < 0 || nsets > 1000)
		elog(ERROR, "supamon: the collector's answer is malformed");
	r->sets = MemoryContextAllocZero(r->cxt, sizeof(RemoteRows) * Max(nsets, 1));
	for (int s = 0; s < nsets; s++)
	{
		RemoteRows *rows = &r->sets[s];
		int32		nrows,
					ncols;

		p = take(p, end, &nrows, sizeof(nrows));
		p = take(p, end, &ncols, sizeof(ncols));
		if (nrows < 0 || ncols < 0 ||
			(Size) nrows * Max(ncols, 1) > MaxAllocSize / sizeof(char *))
			elog(ERROR, "supamon: the collector's answer is malformed");
		rows->nrows = nrows;
		rows->ncols = ncols;
		rows->values = MemoryContextAlloc(r->cxt, sizeof(char *) * Max(nrows * ncols, 1));
		for (int v = 0; v < nrows * ncols; v++)
			p = take_string(p, end, &rows->values[v], r->cxt);
		r->nsets++;
	}
	r->ok = ok != 0 && r->error == NULL;
	r->elapsed_ms = elapsed;
	r->reused = reused != 0;
	r->bytes = bytes;
	r->state = REMOTE_DONE;
	c->outstanding--;

	/* told at once, so that full() counts it before the next is taken */
	if (c->listener)
	{
		int			i = c->req_of[item];

		c->told[i] = true;
		if (c->listener->answered)
			c->listener->answered(i, c->listener->arg);
	}
}

/*
 * The check's relay (RemoteHooks): queues the session on its first call,
 * then takes the answers that came; falls back to running here what the
 * collector cannot serve.
 */
static int
client_relay(RemoteRequest *reqs, int n, void *arg)
{
	PoolClient *c = arg;
	TimestampTz now;

	if (!c->started)
	{
		c->started = true;
		if (!client_start(c, reqs, n))
			return 0;
	}
	while (c->outstanding > 0)
	{
		Size		len;
		void	   *data;
		shm_mq_result res;

		/*
		 * Enough is waiting here to be used: the rest waits in the queue,
		 * the collector with it, at the pace this process takes them.  Not
		 * the collector's silence.
		 */
		if (c->listener && c->listener->full && c->listener->full(c->listener->arg))
		{
			c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), silence_allowed());
			break;
		}
		res = shm_mq_receive(c->mqh, &len, &data, true);

		if (res == SHM_MQ_WOULD_BLOCK)
			break;
		if (res == SHM_MQ_DETACHED)
		{
			/* the collector ended the session (or itself) before the end */
			client_fall_back(c, reqs);
			return 0;
		}
		client_answer(c, reqs, data, len);
		c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), silence_allowed());
	}
	if (c->outstanding == 0)
	{
		client_release(c);
		return 0;
	}
	now = GetCurrentTimestamp();
	if (pool->collector_pid != c->collector || now >= c->deadline)
	{
		client_fall_back(c, reqs);
		return 0;
	}
	if (now >= TimestampTzPlusMilliseconds(c->queued_at, POOL_QUEUE_WAIT_MS))
	{
		bool		queued;

		SpinLockAcquire(&pool->mutex);
		queued = pool->slots[c->slot].ticket == c->ticket &&
			pool->slots[c->slot].state == SLOT_QUEUED;
		SpinLockRelease(&pool->mutex);
		/* the collector is busy with other databases' checks for long */
		if (queued)
		{
			client_fall_back(c, reqs);
			return 0;
		}
	}
	return c->outstanding;
}

/* Tells the listener of each request done since the last time, then of the turn. */
static void
client_settle(RemoteRequest *reqs, int n, void *arg)
{
	PoolClient *c = arg;
	const PoolListener *l = c->listener;

	for (int r = 0; r < n; r++)
		if (reqs[r].state == REMOTE_DONE && !c->told[r])
		{
			c->told[r] = true;
			if (l->answered)
				l->answered(r, l->arg);
		}
	if (l->turn)
		l->turn(l->arg);
}

static bool
client_may_start(void *arg)
{
	PoolClient *c = arg;

	return !c->listener->full(c->listener->arg);
}

void
PoolExecuteAll(RemoteRequest *reqs, const char **names, int n, RemoteSideWork *side,
			   const PoolListener *listener)
{
	PoolClient	client;
	RemoteHooks hooks;
	bool		relay = pool && pool->collector_pid;

	memset(&client, 0, sizeof(client));
	client.names = names;
	client.listener = listener;
	client.told = listener ? palloc0(sizeof(bool) * Max(n, 1)) : NULL;
	hooks.relay = relay ? client_relay : NULL;
	hooks.done = NULL;
	hooks.release = relay ? client_release : NULL;
	hooks.need_fd = NULL;
	hooks.settle = listener ? client_settle : NULL;
	hooks.may_start = listener && listener->full ? client_may_start : NULL;
	hooks.arg = &client;
	RemoteExecuteAll(reqs, n, supamon_max_connections, supamon_connect_timeout,
					 supamon_query_timeout, side, relay || listener ? &hooks : NULL);
	client_release(&client);
	/* what finished in the last turn */
	if (listener)
		client_settle(reqs, n, &client);
	if (client.told)
		pfree(client.told);
}

void
PoolForgetProject(const char *name)
{
	Latch	   *latch;

	if (pool == NULL || pool->collector_pid == 0)
		return;
	SpinLockAcquire(&pool->mutex);
	if (pool->nforget < POOL_FORGET)
	{
		pool->forget[pool->nforget].db = MyDatabaseId;
		pool->forget[pool->nforget].name_hash = name_hash(name);
		pool->nforget++;
	}
	else
		pool->forget_all = true;
	latch = pool->collector_latch;
	SpinLockRelease(&pool->mutex);
	if (latch)
		SetLatch(latch);
}

/* ---- the collector ---- */

typedef struct PoolKey
{
	Oid			db;
	uint64		name_hash;
} PoolKey;

typedef struct PoolEntry
{
	PoolKey		key;
	PGconn	   *conn;			/* NULL: none kept (or lent to a session) */
	char	   *conninfo;		/* what it was opened with (TopMemoryContext) */
	TimestampTz last_used;
} PoolEntry;

static HTAB *entries = NULL;
static int	nkept = 0;			/* open connections in entries */
static int	lent = 0;			/* taken out of entries by the session */

/* The session being served, for the hooks. */
typedef struct Serving
{
	PoolSession *session;
	shm_mq_handle *mqh;
	RemoteRequest *reqs;
	bool		gone;			/* an answer could not be sent */
} Serving;

/* Closes an entry's connection and gives its descriptor back. */
static void
close_entry(PoolEntry *e)
{
	if (e->conn)
	{
		PQfinish(e->conn);
		e->conn = NULL;
		RemoteReleaseFD();
		nkept--;
	}
}

static void
close_everything(int code, Datum arg)
{
	HASH_SEQ_STATUS seq;
	PoolEntry  *e;

	SpinLockAcquire(&pool->mutex);
	pool->collector_pid = 0;
	pool->collector_latch = NULL;
	SpinLockRelease(&pool->mutex);
	if (entries == NULL)
		return;
	hash_seq_init(&seq, entries);
	while ((e = hash_seq_search(&seq)) != NULL)
		close_entry(e);
}

/*
 * The databases of kept connections that no longer exist (DROP DATABASE),
 * looked at every 10 seconds at most.
 */
static List *
dropped_databases(void)
{
	static TimestampTz last = 0;
	HASH_SEQ_STATUS seq;
	PoolEntry  *e;
	List	   *gone = NIL;
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext old;

	if (hash_get_num_entries(entries) == 0 ||
		now < TimestampTzPlusMilliseconds(last, 10000))
		return NIL;
	last = now;
	StartTransactionCommand();
	/* the list outlives the transaction */
	old = MemoryContextSwitchTo(cxt);
	hash_seq_init(&seq, entries);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!list_member_oid(gone, e->key.db) &&
			!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(e->key.db)))
			gone = lappend_oid(gone, e->key.db);
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return gone;
}

/*
 * Closes what was forgotten (removed projects, dropped databases), what sat
 * unused past the idle limit; returns the milliseconds until the next
 * connection's limit.
 */
static long
tidy(void)
{
	HASH_SEQ_STATUS seq;
	PoolEntry  *e;
	TimestampTz now = GetCurrentTimestamp();
	long		next = -1;
	int			nforget;
	bool		all;
	PoolKey		forget[POOL_FORGET];
	List	   *dropped;

	SpinLockAcquire(&pool->mutex);
	nforget = pool->nforget;
	all = pool->forget_all;
	for (int i = 0; i < nforget; i++)
	{
		forget[i].db = pool->forget[i].db;
		forget[i].name_hash = pool->forget[i].name_hash;
	}
	pool->nforget = 0;
	pool->forget_all = false;
	SpinLockRelease(&pool->mutex);

	dropped = dropped_databases();
	hash_seq_init(&seq, entries);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		TimestampTz until = TimestampTzPlusMilliseconds(e->last_used,
														(int64) supamon_idle_connection_timeout * 1000);
		bool		drop = all || until <= now;

		for (int i = 0; i < list_length(dropped) && !drop; i++)
			drop = list_nth_oid(dropped, i) == e->key.db;

		for (int i = 0; i < nforget && !drop; i++)
			drop = forget[i].db == e->key.db && forget[i].name_hash == e->key.name_hash;
		if (drop)
		{
			close_entry(e);
			if (e->conninfo)
				pfree(e->conninfo);
			hash_search(entries, &e->key, HASH_REMOVE, NULL);
			continue;
		}
		if (e->conn)
		{
			long		ms = (long) ((until - now + 999) / 1000);

			if (next < 0 || ms < next)
				next = ms;
		}
	}
	list_free(dropped);
	/* a dropped database is noticed within 10 seconds */
	if (hash_get_num_entries(entries) > 0 && (next < 0 || next > 10000))
		next = 10000;
	return next;
}

/*
 * Makes room for the session's new connections: closes the least recently
 * used connections of other projects while the kept ones would leave fewer
 * descriptors than the session starts at once.
 */
static void
make_room(int wanted, PoolKey *keys, int n)
{
	int			budget = RemoteDescriptorBudget() - 2;	/* the wait set's, one spare */

	while (nkept > 0 && nkept + wanted > budget)
	{
		HASH_SEQ_STATUS seq;
		PoolEntry  *e;
		PoolEntry  *oldest = NULL;

		hash_seq_init(&seq, entries);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			bool		mine = false;

			if (e->conn == NULL)
				continue;
			for (int i = 0; i < n && !mine; i++)
				mine = keys[i].db == e->key.db && keys[i].name_hash == e->key.name_hash;
			if (!mine && (oldest == NULL || e->last_used < oldest->last_used))
				oldest = e;
		}
		if (oldest == NULL)
			break;
		close_entry(oldest);
	}
}

/* The collector's relay: only notices that the check gave up. */
static int
serving_relay(RemoteRequest *reqs, int n, void *arg)
{
	Serving    *sv = arg;

	if (sv->gone || pg_atomic_read_u32(&sv->session->abandoned))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("supamon collector: the check gave up on its session")));
	return 0;
}

static void
put_int32(StringInfo buf, int32 v)
{
	appendBinaryStringInfo(buf, (char *) &v, sizeof(v));
}

static void
put_string(StringInfo buf, const char *s)
{
	int32		len = s ? (int32) strlen(s) : -1;

	put_int32(buf, len);
	if (s)
		appendBinaryStringInfo(buf, s, len);
}

/* Sends a finished request's answer back, then frees its rows. */
static void
serving_done(RemoteRequest *r, void *arg)
{
	Serving    *sv = arg;
	StringInfoData buf;
	int64		bytes = r->bytes;
	int32		item = (int32) (r - sv->reqs);
	shm_mq_result res;

	initStringInfo(&buf);
	put_int32(&buf, item);
	put_int32(&buf, r->ok ? 1 : 0);
	put_int32(&buf, r->elapsed_ms);
	put_int32(&buf, r->reused ? 1 : 0);
	appendBinaryStringInfo(&buf, (char *) &bytes, sizeof(bytes));
	put_string(&buf, r->error);
	put_int32(&buf, r->ok ? r->nsets : 0);
	for (int s = 0; r->ok && s < r->nsets; s++)
	{
		RemoteRows *rows = &r->sets[s];

		put_int32(&buf, rows->nrows);
		put_int32(&buf, rows->ncols);
		for (int v = 0; v < rows->nrows * rows->ncols; v++)
			put_string(&buf, rows->values[v]);
	}
	RemoteFreeRows(r);
	/*
	 * Not raised here: this runs deep in remote.c (a PGresult in hand); the
	 * relay ends the session at the next turn.
	 */
	if (!sv->gone)
	{
		res = shm_mq_send(sv->mqh, buf.len, buf.data, false, true);
		if (res != SHM_MQ_SUCCESS)
			sv->gone = true;
	}
	pfree(buf.data);
}

/*
 * No descriptor is free for a new connection: the least recently used kept
 * connection not lent to this session goes, else one this session finished
 * with (it will not be kept), else one lent to a request not started yet
 * (that one connects anew, when a descriptor is free).
 */
static bool
serving_need_fd(RemoteRequest *reqs, int n, void *arg)
{
	HASH_SEQ_STATUS seq;
	PoolEntry  *e;
	PoolEntry  *oldest = NULL;

	hash_seq_init(&seq, entries);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->conn && (oldest == NULL || e->last_used < oldest->last_used))
			oldest = e;
	if (oldest)
	{
		close_entry(oldest);
		return true;
	}
	for (int i = 0; i < n; i++)
	{
		RemoteRequest *r = &reqs[i];

		if (r->state == REMOTE_DONE && r->conn && r->holds_fd)
		{
			PQfinish(r->conn);
			r->conn = NULL;
			r->holds_fd = false;
			RemoteReleaseFD();
			return true;
		}
	}
	/* more projects than descriptors: one lent but not started connects anew */
	for (int i = n - 1; i >= 0; i--)
	{
		RemoteRequest *r = &reqs[i];

		if (r->state == REMOTE_WAITING && r->reuse)
		{
			PQfinish(r->reuse);
			r->reuse = NULL;
			RemoteReleaseFD();
			return true;
		}
	}
	return false;
}

/* Serves one queued session: its requests over kept connections. */
static void
serve(dsm_handle handle, MemoryContext cxt)
{
	dsm_segment *seg = dsm_attach(handle);
	PoolSession *s;
	PoolItem   *items;
	RemoteRequest *volatile reqs = NULL;
	volatile int nreqs = 0;
	PoolKey    *keys;
	PoolEntry **owners;
	Serving		sv;
	RemoteHooks hooks;
	shm_mq	   *mq;
	int			fresh = 0;

	if (seg == NULL)
		return;					/* the check is gone already */
	PG_TRY();
	{
		char	   *base = dsm_segment_address(seg);

		s = (PoolSession *) base;
		items = (PoolItem *) (base + MAXALIGN(sizeof(PoolSession)));
		mq = (shm_mq *) (base + s->queue_offset);
		shm_mq_set_sender(mq, MyProc);
		sv.session = s;
		sv.gone = false;
		sv.mqh = shm_mq_attach(mq, seg, NULL);
		reqs = palloc0(sizeof(RemoteRequest) * Max(s->n, 1));
		nreqs = s->n;
		sv.reqs = reqs;
		keys = palloc0(sizeof(PoolKey) * Max(s->n, 1));
		owners = palloc0(sizeof(PoolEntry *) * Max(s->n, 1));
		for (int i = 0; i < s->n; i++)
		{
			RemoteRequest *r = &reqs[i];
			CollectParams *params;
			PoolEntry  *e;
			bool		found;

			r->conninfo = base + items[i].conninfo_offset;
			params = palloc(sizeof(CollectParams));
			*params = *(CollectParams *) (base + items[i].params_offset);
			params->open_runs = (int64 *) (base + items[i].params_offset +
										   MAXALIGN(sizeof(CollectParams)));
			r->make_sql = CollectSqlOf;
			r->sql_source = params;
			r->max_bytes = items[i].max_bytes;
			r->keep = supamon_idle_connection_timeout > 0;
			keys[i].db = s->db;
			keys[i].name_hash = items[i].name_hash;
			e = hash_search(entries, &keys[i], HASH_ENTER, &found);
			if (!found)
			{
				e->conn = NULL;
				e->conninfo = NULL;
			}
			e->last_used = GetCurrentTimestamp();
			owners[i] = e;
			/* the same project twice in one session: the first takes it */
			if (e->conn && e->conninfo && strcmp(e->conninfo, r->conninfo) == 0)
			{
				r->reuse = e->conn;
				e->conn = NULL;
				nkept--;		/* the request holds its descriptor now */
				lent++;
			}
			else
			{
				close_entry(e);
				fresh++;
			}
		}
		make_room(lent + Min(fresh, s->max_active), keys, s->n);

		hooks.relay = serving_relay;
		hooks.done = serving_done;
		hooks.release = NULL;
		hooks.need_fd = serving_need_fd;
		hooks.settle = NULL;
		hooks.may_start = NULL;
		hooks.arg = &sv;
		RemoteExecuteAll(reqs, s->n, s->max_active, s->connect_timeout_ms,
						 s->query_timeout_ms, NULL, &hooks);

		/* what stayed open is kept for the next check */
		for (int i = 0; i < s->n; i++)
		{
			RemoteRequest *r = &reqs[i];
			PoolEntry  *e = owners[i];

			if (r->conn == NULL || e->conn != NULL)
				continue;
			e->conn = r->conn;
			r->conn = NULL;
			r->holds_fd = false;
			nkept++;
			if (e->conninfo == NULL || strcmp(e->conninfo, r->conninfo) != 0)
			{
				if (e->conninfo)
					pfree(e->conninfo);
				e->conninfo = MemoryContextStrdup(TopMemoryContext, r->conninfo);
			}
			e->last_used = GetCurrentTimestamp();
		}
		RemoteReleaseAll(reqs, s->n);
	}
	PG_FINALLY();
	{
		/* lent connections came back, or are closed here with their request */
		if (reqs)
			RemoteReleaseAll(reqs, nreqs);
		lent = 0;
		dsm_detach(seg);
	}
	PG_END_TRY();
}

/*
 * PostgreSQL lets a process use a third of max_files_per_process for
 * sockets and the like (about 330 at the default): too few to keep a
 * thousand projects' connections.  The collector opens no relation files
 * (PostgreSQL's own files keep all they were given), so it raises its own
 * limit as far as the hard limit allows and counts its connections itself.
 */
static void
raise_descriptor_limit(void)
{
	struct rlimit rl;
	int			budget;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < COLLECTOR_MAX_FDS && rl.rlim_max > rl.rlim_cur)
	{
		struct rlimit want = rl;

		want.rlim_cur = Min(rl.rlim_max, COLLECTOR_MAX_FDS);
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	budget = (int) Min(rl.rlim_cur, COLLECTOR_MAX_FDS) - max_safe_fds - 64;
	if (budget > max_safe_fds / 3)
		RemoteUseOwnDescriptors(budget);
	ereport(LOG,
			(errmsg("supamon collector started: up to %d project connections kept open",
					RemoteDescriptorBudget())));
}

/* Takes the next queued session, if any; returns its slot or -1. */
static int
next_session(dsm_handle *handle)
{
	int			slot = -1;
	uint64		oldest = 0;

	SpinLockAcquire(&pool->mutex);
	for (int i = 0; i < POOL_SLOTS; i++)
		if (pool->slots[i].state == SLOT_QUEUED &&
			(slot < 0 || pool->slots[i].ticket < oldest))
		{
			slot = i;
			oldest = pool->slots[i].ticket;
		}
	if (slot >= 0)
	{
		pool->slots[slot].state = SLOT_SERVING;
		*handle = pool->slots[slot].handle;
	}
	SpinLockRelease(&pool->mutex);
	return slot;
}

void
supamon_collector_main(Datum main_arg)
{
	HASHCTL		ctl;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	/* no database: only so that pg_stat_activity shows it and what it does */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_activity(STATE_IDLE, NULL);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PoolKey);
	ctl.entrysize = sizeof(PoolEntry);
	ctl.hcxt = TopMemoryContext;
	entries = hash_create("supamon kept connections", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cxt = AllocSetContextCreate(TopMemoryContext, "supamon collector session",
								ALLOCSET_DEFAULT_SIZES);

	raise_descriptor_limit();
	before_shmem_exit(close_everything, (Datum) 0);
	SpinLockAcquire(&pool->mutex);
	pool->collector_pid = MyProcPid;
	pool->collector_latch = MyLatch;
	/* sessions of a collector that died are nobody's now */
	for (int i = 0; i < POOL_SLOTS; i++)
		pool->slots[i].state = SLOT_FREE;
	SpinLockRelease(&pool->mutex);

	for (;;)
	{
		dsm_handle	handle;
		volatile int slot;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		while ((slot = next_session(&handle)) >= 0)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			pgstat_report_activity(STATE_RUNNING, "supamon: reading projects for a check");
			PG_TRY();
			{
				serve(handle, cxt);
			}
			PG_CATCH();
			{
				ErrorData  *e;

				/* the check gave up or went away: its session only ends */
				MemoryContextSwitchTo(cxt);
				e = CopyErrorData();
				FlushErrorState();
				if (e->sqlerrcode != ERRCODE_QUERY_CANCELED)
					ereport(LOG,
							(errmsg("supamon collector: a check's session failed: %s", e->message)));
			}
			PG_END_TRY();
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
			SpinLockAcquire(&pool->mutex);
			pool->slots[slot].state = SLOT_FREE;
			SpinLockRelease(&pool->mutex);
			CHECK_FOR_INTERRUPTS();
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		timeout = tidy();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout >= 0 ? Max(timeout, 10) : 0, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
PoolRegisterCollector(void)
{
	BackgroundWorker worker;

	SupamonWorkerStruct(&worker, BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
						"supamon_collector_main",
						"supamon collector");
	worker.bgw_restart_time = SUPAMON_RESTART_SECONDS;
	RegisterBackgroundWorker(&worker);
}
