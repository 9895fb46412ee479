/*
 * http.h
 *		Concurrent HTTP POSTs with libcurl's multi interface, waited for
 *		together with the process latch in one WaitEventSet.
 */
#ifndef SUPAMON_HTTP_H
#define SUPAMON_HTTP_H

#include <curl/curl.h>

/* How much of an answer is kept: enough for any error or rate-limit body. */
#define HTTP_MAX_ANSWER (32 * 1024)

typedef struct HttpRequest
{
	/* set by the caller before HttpStart (the strings must outlive it) */
	const char *url;
	const char *body;
	size_t		body_len;
	struct curl_slist *headers;		/* HttpAddHeader */
	void	   *owner;

	/* set when done */
	bool		done;
	long		status;			/* HTTP status, 0 when none came */
	CURLcode	result;
	char		error[CURL_ERROR_SIZE];	/* libcurl's words: may quote a URL */
	char	   *answer;			/* first HTTP_MAX_ANSWER bytes, NUL-terminated */
	size_t		answer_len;
	double		retry_after;	/* Retry-After, seconds, or -1 */
	int			rl_remaining;	/* X-RateLimit-Remaining, or -1 */
	double		rl_reset_after; /* X-RateLimit-Reset-After, seconds, or -1 */
	long		elapsed_ms;

	/* private */
	CURL	   *easy;
	struct HttpRequest *next_active;
	struct HttpRequest *next_done;
} HttpRequest;

typedef struct HttpClient HttpClient;

/* In CurrentMemoryContext; at most max_sockets sockets at once. */
extern HttpClient *HttpClientCreate(int max_sockets);
extern void HttpClientDestroy(HttpClient *client);

extern void HttpAddHeader(HttpRequest *req, const char *header);

/* Starts a POST bounded by timeout_ms; ERROR only when curl cannot start it. */
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

#endif							/* SUPAMON_HTTP_H */
