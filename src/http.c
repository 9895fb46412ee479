/*
 * http.c
 *		Concurrent HTTP requests with libcurl's multi interface.
 *
 * curl tells which sockets it wants watched (CURLMOPT_SOCKETFUNCTION) and
 * when it wants to be called back (CURLMOPT_TIMERFUNCTION); those sockets go
 * into one WaitEventSet with the process latch and postmaster death, so that
 * a worker with requests in flight still sees SIGTERM, SIGHUP and new alerts
 * at once.  PostgreSQL 15's WaitEventSet cannot forget a socket, so the set
 * is rebuilt, but only when curl's list of sockets changed.
 *
 * curl's callbacks run inside curl: they never palloc or raise (a longjmp
 * through libcurl would leave it in pieces), so the socket table and the
 * answer buffers are allocated before curl runs.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"

typedef struct HttpSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} HttpSocket;

struct HttpClient
{
	MemoryContext cxt;
	CURLM	   *multi;
	HttpSocket *sockets;
	int			nsockets;
	int			max_sockets;
	bool		sockets_changed;
	bool		socket_table_full;
	WaitEventSet *set;
	TimestampTz timer_at;		/* when curl wants to be called; 0: never */
	int			in_flight;
	HttpRequest *active;		/* in flight, linked by next_active */
	HttpRequest *done_head;
	HttpRequest *done_tail;
	bool		acted;			/* curl ran since the last collect */
};

static bool curl_ready = false;

static void
http_global_init(void)
{
	if (curl_ready)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR, (errmsg("supamon: could not initialize libcurl")));
	curl_ready = true;
}

static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	HttpClient *client = userp;
	int			i;

	for (i = 0; i < client->nsockets; i++)
		if (client->sockets[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < client->nsockets)
		{
			client->sockets[i] = client->sockets[--client->nsockets];
			client->sockets_changed = true;
		}
		return 0;
	}
	if (i == client->nsockets)
	{
		if (client->nsockets >= client->max_sockets)
		{
			client->socket_table_full = true;
			return -1;
		}
		client->nsockets++;
		client->sockets[i].fd = fd;
		client->sockets[i].what = 0;
	}
	if (client->sockets[i].what != what)
	{
		client->sockets[i].what = what;
		client->sockets_changed = true;
	}
	return 0;
}

static int
timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
	HttpClient *client = userp;

	client->timer_at = timeout_ms < 0 ? 0 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userp)
{
	HttpRequest *req = userp;
	size_t		n = size * nmemb;
	size_t		cap = req->max_answer ? req->max_answer : HTTP_MAX_ANSWER;
	size_t		room = cap - req->answer_len;
	size_t		take = Min(n, room);

	if (req->max_answer)
	{
		size_t		need = req->answer_len + n + 1;

		/* an answer that must be whole and is too big ends here: curl stops */
		if (n > req->max_answer - req->answer_len)
		{
			req->too_big = true;
			return 0;
		}
		if (need > req->grow_size)
		{
			size_t		size = Max(Max(req->grow_size * 2, need), 16384);
			char	   *grown = realloc(req->grow, Min(size, req->max_answer + 1));

			if (grown == NULL)
			{
				req->too_big = true;
				return 0;
			}
			req->grow = grown;
			req->grow_size = Min(size, req->max_answer + 1);
		}
		memcpy(req->grow + req->answer_len, data, n);
		req->answer_len += n;
		req->grow[req->answer_len] = '\0';
		return n;
	}
	/* the rest of a huge answer is read and dropped, within the timeout */
	memcpy(req->answer + req->answer_len, data, take);
	req->answer_len += take;
	req->answer[req->answer_len] = '\0';
	return n;
}

/* "name: value" where name is header (case-insensitive): the value, or NULL */
static const char *
header_value(const char *line, size_t len, const char *header)
{
	size_t		hlen = strlen(header);

	if (len <= hlen || pg_strncasecmp(line, header, hlen) != 0 || line[hlen] != ':')
		return NULL;
	line += hlen + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static double
seconds_value(const char *v, size_t len)
{
	char		buf[32];
	char	   *end;
	double		d;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	d = strtod(buf, &end);
	while (*end == ' ' || *end == '\r' || *end == '\n')
		end++;
	if (end == buf || *end != '\0' || !isfinite(d) || d < 0)
		return -1;
	return d;
}

static size_t
header_callback(char *data, size_t size, size_t nitems, void *userp)
{
	HttpRequest *req = userp;
	size_t		n = size * nitems;
	const char *v;

	if ((v = header_value(data, n, "Retry-After")) != NULL)
		req->retry_after = seconds_value(v, n - (v - data));
	else if ((v = header_value(data, n, "X-RateLimit-Remaining")) != NULL)
	{
		double		d = seconds_value(v, n - (v - data));

		req->rl_remaining = d < 0 || d > INT_MAX ? -1 : (int) d;
	}
	else if ((v = header_value(data, n, "X-RateLimit-Reset-After")) != NULL)
		req->rl_reset_after = seconds_value(v, n - (v - data));
	else if ((v = header_value(data, n, "X-RateLimit-Reset")) != NULL)
		req->rl_reset = seconds_value(v, n - (v - data));
	return n;
}

HttpClient *
HttpClientCreate(int max_sockets)
{
	HttpClient *client;

	http_global_init();
	client = palloc0(sizeof(HttpClient));
	client->cxt = CurrentMemoryContext;
	client->max_sockets = max_sockets;
	client->sockets = palloc0(sizeof(HttpSocket) * max_sockets);
	client->multi = curl_multi_init();
	if (client->multi == NULL)
		ereport(ERROR, (errmsg("supamon: could not create a libcurl multi handle")));
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	client->sockets_changed = true;
	return client;
}

/*
 * Releases every handle, finished or not: also what an error path calls.
 */
void
HttpClientDestroy(HttpClient *client)
{
	if (client == NULL)
		return;
	if (client->multi)
	{
		for (HttpRequest *req = client->active; req; req = req->next_active)
		{
			curl_multi_remove_handle(client->multi, req->easy);
			curl_easy_cleanup(req->easy);
			free(req->grow);
			req->grow = NULL;
			curl_slist_free_all(req->headers);
			req->headers = NULL;
			req->easy = NULL;
		}
		client->active = NULL;
		client->in_flight = 0;
		curl_multi_cleanup(client->multi);
		client->multi = NULL;
	}
	if (client->set)
	{
		FreeWaitEventSet(client->set);
		client->set = NULL;
	}
}

void
HttpAddHeader(HttpRequest *req, const char *header)
{
	struct curl_slist *l = curl_slist_append(req->headers, header);

	if (l == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	req->headers = l;
}

/* an option that did not take is a setting (TLS, protocols...) silently lost */
#define SETOPT(easy, opt, val) (curl_easy_setopt((easy), (opt), (val)) == CURLE_OK)

/*
 * Hosts never reached through a proxy: loopback, and what the environment's
 * no_proxy names (which CURLOPT_NOPROXY would otherwise replace).
 */
static const char *
noproxy(void)
{
	static char *value = NULL;

	if (value == NULL)
	{
		const char *env = getenv("no_proxy");

		if (env == NULL)
			env = getenv("NO_PROXY");
		value = MemoryContextStrdup(TopMemoryContext,
									psprintf("localhost,127.0.0.1,::1%s%s",
											 env && env[0] ? "," : "", env ? env : ""));
	}
	return value;
}

void
HttpStart(HttpClient *client, HttpRequest *req, long timeout_ms)
{
	CURL	   *easy;
	CURLMcode	mc;
	bool		ok = true;

	req->done = false;
	req->status = 0;
	req->result = CURLE_OK;
	req->error[0] = '\0';
	/* the caller's context: the request's, not the client's (which lives long) */
	req->cxt = CurrentMemoryContext;
	if (req->max_answer)
		req->answer = NULL;
	else
	{
		if (req->answer == NULL)
			req->answer = palloc(HTTP_MAX_ANSWER + 1);
		req->answer[0] = '\0';
	}
	req->grow = NULL;
	req->grow_size = 0;
	req->answer_len = 0;
	req->too_big = false;
	req->retry_after = -1;
	req->rl_remaining = -1;
	req->rl_reset_after = -1;
	req->rl_reset = -1;
	req->elapsed_ms = 0;
	req->next_done = NULL;
	if (req->body)
	{
		/* Expect: 100-continue would cost a round trip for nothing */
		HttpAddHeader(req, "Expect:");
		HttpAddHeader(req, "Content-Type: application/json");
	}
	else
		HttpAddHeader(req, "Accept: application/json");

	easy = curl_easy_init();
	if (easy == NULL)
	{
		curl_slist_free_all(req->headers);
		req->headers = NULL;
		ereport(ERROR, (errmsg("supamon: could not create a libcurl handle")));
	}
	ok &= SETOPT(easy, CURLOPT_PRIVATE, req);
	ok &= SETOPT(easy, CURLOPT_URL, req->url);
	if (req->body)
	{
		ok &= SETOPT(easy, CURLOPT_POST, 1L);
		ok &= SETOPT(easy, CURLOPT_POSTFIELDS, req->body);
		ok &= SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
	else
		ok &= SETOPT(easy, CURLOPT_HTTPGET, 1L);
	ok &= SETOPT(easy, CURLOPT_HTTPHEADER, req->headers);
	ok &= SETOPT(easy, CURLOPT_USERAGENT, "supamon");
	ok &= SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
	ok &= SETOPT(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	ok &= SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	ok &= SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	ok &= SETOPT(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	ok &= SETOPT(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	ok &= SETOPT(easy, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* loopback through a proxy is never what was meant */
	ok &= SETOPT(easy, CURLOPT_NOPROXY, noproxy());
	/* a redirect could carry the body, secrets included, anywhere */
	ok &= SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
	ok &= SETOPT(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	ok &= SETOPT(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	ok &= SETOPT(easy, CURLOPT_ERRORBUFFER, req->error);
	ok &= SETOPT(easy, CURLOPT_WRITEFUNCTION, write_callback);
	ok &= SETOPT(easy, CURLOPT_WRITEDATA, req);
	ok &= SETOPT(easy, CURLOPT_HEADERFUNCTION, header_callback);
	ok &= SETOPT(easy, CURLOPT_HEADERDATA, req);

	if (!ok)
	{
		curl_easy_cleanup(easy);
		curl_slist_free_all(req->headers);
		req->headers = NULL;
		ereport(ERROR, (errmsg("supamon: this libcurl does not take an option supamon needs (protocols, timeouts or TLS checks)")));
	}

	mc = curl_multi_add_handle(client->multi, easy);
	if (mc != CURLM_OK)
	{
		curl_easy_cleanup(easy);
		curl_slist_free_all(req->headers);
		req->headers = NULL;
		ereport(ERROR, (errmsg("supamon: could not start an HTTP request: %s",
							   curl_multi_strerror(mc))));
	}
	req->easy = easy;
	req->next_active = client->active;
	client->active = req;
	client->in_flight++;
}

int
HttpInFlight(HttpClient *client)
{
	return client->in_flight;
}

static void
collect_done(HttpClient *client)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		HttpRequest *req = NULL;
		curl_off_t	total = 0;
		CURL	   *easy = msg->easy_handle;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &req);
		req->result = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
		req->elapsed_ms = (long) (total / 1000);
		if (req->result != CURLE_OK && req->error[0] == '\0')
			strlcpy(req->error, curl_easy_strerror(req->result), sizeof(req->error));
		for (HttpRequest **p = &client->active; *p; p = &(*p)->next_active)
			if (*p == req)
			{
				*p = req->next_active;
				break;
			}
		/* msg is not valid past curl_multi_remove_handle */
		curl_multi_remove_handle(client->multi, easy);
		curl_easy_cleanup(easy);
		curl_slist_free_all(req->headers);
		req->headers = NULL;
		req->easy = NULL;
		req->done = true;
		client->in_flight--;
		if (req->max_answer)
		{
			/* out of malloc's hands now that curl is done with it */
			char	   *grow = req->grow;

			req->grow = NULL;
			PG_TRY();
			{
				req->answer = MemoryContextAlloc(req->cxt, req->answer_len + 1);
				if (req->answer_len)
					memcpy(req->answer, grow, req->answer_len);
				req->answer[req->answer_len] = '\0';
			}
			PG_FINALLY();
			{
				free(grow);
			}
			PG_END_TRY();
		}
		if (client->done_tail)
			client->done_tail->next_done = req;
		else
			client->done_head = req;
		client->done_tail = req;
	}
}

bool
HttpSocketsChanged(HttpClient *client)
{
	return client->sockets_changed;
}

int
HttpMaxSockets(HttpClient *client)
{
	return client->max_sockets;
}

void
HttpAddSockets(HttpClient *client, WaitEventSet *set, void *tag)
{
	for (int i = 0; i < client->nsockets; i++)
	{
		uint32		events = 0;

		if (client->sockets[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (client->sockets[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(set, events, client->sockets[i].fd, NULL, tag);
	}
	client->sockets_changed = false;
}

long
HttpTimeout(HttpClient *client)
{
	TimestampTz now;

	if (client->timer_at == 0)
		return -1;
	now = GetCurrentTimestamp();
	return client->timer_at <= now ? 0 : (long) ((client->timer_at - now + 999) / 1000);
}

void
HttpSocketEvent(HttpClient *client, const WaitEvent *event)
{
	int			flags = 0;
	int			running;

	if (event->events & WL_SOCKET_READABLE)
		flags |= CURL_CSELECT_IN;
	if (event->events & WL_SOCKET_WRITEABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(client->multi, (curl_socket_t) event->fd, flags, &running);
	client->acted = true;
}

void
HttpAfterWait(HttpClient *client)
{
	int			running;

	if (client->timer_at != 0 && client->timer_at <= GetCurrentTimestamp())
	{
		client->timer_at = 0;
		curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		client->acted = true;
	}
	if (client->acted)
		collect_done(client);
	client->acted = false;
	if (client->socket_table_full)
		elog(WARNING, "supamon: more sockets than expected in HTTP requests");
	client->socket_table_full = false;
}

static void
rebuild_wait_set(HttpClient *client)
{
	MemoryContext old = MemoryContextSwitchTo(client->cxt);

	if (client->set)
		FreeWaitEventSet(client->set);
	client->set = NULL;
#if PG_VERSION_NUM >= 170000
	client->set = CreateWaitEventSet(NULL, client->nsockets + 2);
#else
	client->set = CreateWaitEventSet(client->cxt, client->nsockets + 2);
#endif
	AddWaitEventToSet(client->set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	/* (a single-user backend has no postmaster to watch) */
	if (IsUnderPostmaster)
		AddWaitEventToSet(client->set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	HttpAddSockets(client, client->set, client);
	MemoryContextSwitchTo(old);
}

bool
HttpWait(HttpClient *client, long timeout_ms)
{
	WaitEvent	events[16];
	int			n;
	bool		latch = false;
	long		until = HttpTimeout(client);

	if (until >= 0 && (timeout_ms < 0 || until < timeout_ms))
		timeout_ms = until;
	if (client->sockets_changed || client->set == NULL)
		rebuild_wait_set(client);

	n = WaitEventSetWait(client->set, timeout_ms, events, lengthof(events), PG_WAIT_EXTENSION);
	for (int i = 0; i < n; i++)
	{
		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			latch = true;
		}
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			HttpSocketEvent(client, &events[i]);
	}
	HttpAfterWait(client);
	return latch;
}

HttpRequest *
HttpNextDone(HttpClient *client)
{
	HttpRequest *req = client->done_head;

	if (req)
	{
		client->done_head = req->next_done;
		if (client->done_head == NULL)
			client->done_tail = NULL;
		req->next_done = NULL;
	}
	return req;
}
