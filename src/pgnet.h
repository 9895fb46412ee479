/*
 * pgnet.h
 *		pg_cron jobs that call HTTP endpoints through pg_net: what a command
 *		calls, and which run a response in net._http_response belongs to,
 *		where that is certain.  Pure C: no backend headers, unit tested and
 *		fuzzed outside the server.
 *
 * pg_net runs a request after the calling transaction commits and writes
 * its response later, with nothing that names the caller: a response can be
 * matched to a run only by time.  A run's window opens when it starts and
 * closes when its request must have been answered (its end, plus the
 * request's timeout, plus pg_net's own delay); pg_net's worker commits a
 * batch of responses at once, so a run is judged only PN_LATE_MS after its
 * window and those that meet it have closed.  A run is told apart only when
 * that span holds exactly as many responses as those runs make, and either
 * one run or answers that all agree (all good, or all failed).  Otherwise
 * the run is "unknown" and no job is blamed.
 */
#ifndef SUPAMON_PGNET_H
#define SUPAMON_PGNET_H

#include <stdbool.h>
#include <stdint.h>

/* pg_net's default request timeout, and what its worker may add. */
#define PN_DEFAULT_TIMEOUT_MS 5000
#define PN_WORKER_DELAY_MS 10000
/* How long after a window closes its responses may still become visible. */
#define PN_LATE_MS 30000
/* A timeout literal longer than this is taken as this (windows stay short). */
#define PN_MAX_TIMEOUT_MS (5 * 60 * 1000)

typedef struct PnCall
{
	int			ncalls;			/* net.http_get/post/delete calls in it */
	char		url[512];		/* the first call's URL, when a plain literal
								 * (its query string dropped); else "" */
	char		slug[128];		/* an Edge Function's slug (from
								 * /functions/v1/<slug>), else "" */
	int			timeout_ms;		/* a literal timeout_milliseconds, or -1 */
} PnCall;

/* Reads a pg_cron command; true when it calls pg_net at all. */
extern bool pn_parse_command(const char *command, PnCall *out);

/* The window of a run's response, from its start and end (microseconds). */
extern void pn_window(const PnCall *call, int64_t start, int64_t end,
					  int64_t *from, int64_t *until);

typedef struct PnResponse
{
	int64_t		created;		/* microseconds since 1970 */
	int			status;			/* HTTP status; 0 when none */
	bool		timed_out;
	bool		error;			/* pg_net's error_msg was set */
} PnResponse;

/* A failure: 4xx or 5xx, no status, timed out or an error. */
extern bool pn_response_failed(const PnResponse *r);

typedef enum PnVerdict
{
	PN_PENDING,					/* its window is still open */
	PN_OK,
	PN_FAILED,
	PN_UNKNOWN					/* its response cannot be told apart */
} PnVerdict;

typedef struct PnRun
{
	int64_t		runid;			/* the caller's: carried along */
	int			tag;
	int64_t		from;			/* its window, microseconds */
	int64_t		until;
	int			expected;		/* responses it makes (its command's calls) */
	bool		decided;		/* by an earlier check: only counted */
	/* out, for runs not decided before */
	PnVerdict	verdict;
	int			response;		/* the response that says so, or -1 */
	int			cluster_runs;	/* it and the runs whose windows meet it */
	int			cluster_responses;	/* responses in their span */
} PnRun;

/*
 * Decides the runs not decided before whose span has closed by now (see
 * above); responses must be sorted by created.  Runs are reordered by
 * window.
 */
extern void pn_attribute(PnRun *runs, int nruns, const PnResponse *responses,
						 int nresponses, int64_t now);

#endif							/* SUPAMON_PGNET_H */
