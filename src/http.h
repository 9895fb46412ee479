/*
 * http.h
 *		Concurrent HTTP requests with libcurl's multi interface, waited for
 *		together with the process latch in one WaitEventSet (the client's own,
 *		or a caller's that also waits for other sockets).
 */
#ifndef SUPAMON_HTTP_H
#define SUPAMON_HTTP_H

#include <curl/curl.h>

#include "storage/latch.h"

/* How much of an answer is kept: enough for any error or rate-limit body. */
#define HTTP_MAX_ANSWER (32 * 1024)

typedef struct HttpRequest
{
	/* set by the caller before HttpStart (the strings must outlive it) */
	const char *url;
	const char *body;			/* NULL: a GET */
	size_t		body_len;
	size_t		max_answer;		/* 0: HTTP_MAX_ANSWER kept, the rest read
								 * and dropped; else the answer grows as
								 * it comes, and more ends the request
								 * (too_big) */
	struct curl_slist *headers;		/* HttpAddHeader */
	void	   *owner;

	/* set when done */
	bool		done;
	long		status;			/* HTTP status, 0 when none came */
	CURLcode	result;
	char		error[CURL_ERROR_SIZE];	/* libcurl's words: may quote a URL */
	char	   *answer;			/* what was kept, NUL-terminated */
	size_t		answer_len;
	bool		too_big;		/* the answer passed max_answer */
	double		retry_after;	/* Retry-After, seconds, or -1 */
	int			rl_remaining;	/* X-RateLimit-Remaining, or -1 */
	double		rl_reset_after; /* X-RateLimit-Reset-After, seconds, or -1 */
	double		rl_reset;		/* X-RateLimit-Reset, as sent, or -1 */
	long		elapsed_ms;

	/* private */
	CURL	   *easy;
	MemoryContext cxt;			/* where the answer goes when done */
	char	   *grow;			/* a growing answer, malloc'd: curl's
								 * callbacks never palloc */
	size_t		grow_size;
	struct HttpRequest *next_active;
	struct HttpRequest *next_done;
} HttpRequest;

typedef struct HttpClient HttpClient;

/* In CurrentMemoryContext; at most max_sockets sockets at once. */
extern HttpClient *HttpClientCreate(int max_sockets);
extern void HttpClientDestroy(HttpClient *client);

extern void HttpAddHeader(HttpRequest *req, const char *header);

/*
 * Starts a POST (a GET when body is NULL) bounded by timeout_ms; ERROR only
 * when curl cannot start it.
 */
extern void HttpStart(HttpClient *client, HttpRequest *req, long timeout_ms);
extern int	HttpInFlight(HttpClient *client);

/*
 * Waits at most timeout_ms (-1: until something happens) for the sockets,
 * curl's timers, the latch and postmaster death, and lets curl work.  Returns
 * true when the latch was set (it is reset: the caller runs
 * CHECK_FOR_INTERRUPTS and looks at what woke it).
 */
extern bool HttpWait(HttpClient *client, long timeout_ms);

/* The next finished request, or NULL. */
extern HttpRequest *HttpNextDone(HttpClient *client);

/*
 * For a caller that waits for curl's sockets in a wait set of its own,
 * beside other sockets (remote.c): whether curl's sockets changed since they
 * were last added (the set must then be rebuilt); adding them (with
 * user_data 'tag', at most HttpMaxSockets); how long curl may wait
 * (-1: no timer); and handing over an event of theirs, then, once per
 * wait, HttpAfterWait to run curl's timers and collect finished requests.
 */
extern bool HttpSocketsChanged(HttpClient *client);
extern int	HttpMaxSockets(HttpClient *client);
extern void HttpAddSockets(HttpClient *client, WaitEventSet *set, void *tag);
extern long HttpTimeout(HttpClient *client);
extern void HttpSocketEvent(HttpClient *client, const WaitEvent *event);
extern void HttpAfterWait(HttpClient *client);

#endif							/* SUPAMON_HTTP_H */
