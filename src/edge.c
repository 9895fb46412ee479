/*
 * edge.c
 *		Asking the Supabase Management API about every project at once: its
 *		Edge Functions, their recent traffic, and whether Supabase paused it.
 *
 * Per project, each check: GET /v1/projects/{ref}/functions, then, for
 * at most EDGE_STATS_PER_CHECK of its ACTIVE functions (those read longest
 * ago first), GET .../analytics/endpoints/functions.combined-stats.  These
 * run in the same wait as the projects' database connections
 * (RemoteSideWork), a few at a time per project and a bounded number in
 * all, each holding a file descriptor of the server's budget while it
 * runs, and all within one supamon.http_timeout from the start: what has not
 * answered by then is not read this time, so a slow API never holds a
 * check longer than that.  Only for a project whose database did not
 * answer, GET /v1/projects/{ref} afterwards (EdgeFleetAskStatus): a paused
 * project is unreachable for a reason worth naming.
 *
 * The API allows 120 requests a minute per project (fewer for analytics):
 * a 429 (or a response saying no request is left) stops that project's
 * calls and says when to ask again, which the next checks honour.  401 and
 * 403 (a bad or revoked token, or one without access to the project) and
 * 404 (an unknown ref) on the function list stop the project's calls at
 * once; on the other calls they only lose what those calls would say.
 * Answers are read with PostgreSQL's JSON parser, bounded in size; what a
 * server says is scrubbed of the token before it is kept anywhere.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/timestamp.h"

#include "alert_text.h"
#include "deliver.h"
#include "edge.h"
#include "http.h"
#include "json_read.h"
#include "supamon.h"

/* Calls in flight for one project, and in all. */
#define EDGE_PER_PROJECT 4
#define EDGE_MAX_IN_FLIGHT 32

/*
 * Traffic calls per project per check: at one check a minute, well inside
 * what the API allows for analytics; more functions are read in turns.
 */
#define EDGE_STATS_PER_CHECK 20

/* The largest answer read for each call: far above any real one. */
#define LIST_MAX_ANSWER (4 * 1024 * 1024)
#define STATS_MAX_ANSWER (512 * 1024)
#define PROJECT_MAX_ANSWER (256 * 1024)

/* How long to leave a project alone after a 429 that names no time. */
#define DEFAULT_RATE_LIMIT_WAIT 60

#define ERROR_CHARS 300

typedef enum CallKind
{
	CALL_PROJECT,
	CALL_FUNCTIONS,
	CALL_STATS
} CallKind;

typedef struct EdgeWork EdgeWork;

typedef struct EdgeCall
{
	HttpRequest http;
	EdgeWork   *work;
	CallKind	kind;
	int			function;		/* CALL_STATS: its index in the snapshot */
	bool		fd_held;
	bool		started;
} EdgeCall;

struct EdgeWork
{
	EdgeSnapshot *snap;
	const char *ref;
	EdgeCall  **calls;			/* planned, in order */
	int			ncalls;
	int			size;
	int			next;			/* the next to start */
	int			in_flight;
	bool		stop;			/* start nothing more */
	bool		finished;		/* its snapshot is complete */
	TimestampTz started;
	const EdgeKnown *known;		/* when each function's traffic was read */
};

struct EdgeFleet
{
	HttpClient *http;
	EdgeWork   *works;
	int			n;
	int			in_flight;
	int			max_in_flight;
	int			round;			/* where the next round of starts begins */
	TimestampTz deadline;		/* nothing is waited for past it */
	char	   *base;			/* the API's URL, without a trailing slash */
	char	   *auth;			/* the Authorization header */
	const char *secrets[2];		/* to scrub from what comes back */
	EdgeSnapshot *snaps;		/* the caller's, one per project */
};

static const char *const stats_intervals[] = {"15min", "1hr", "3hr", "1day"};

bool
EdgeProjectIsPaused(const char *status)
{
	/* paused, pausing, or on its way back: not maintenance (UPGRADING...) */
	return status != NULL &&
		(strcmp(status, "INACTIVE") == 0 || strcmp(status, "PAUSING") == 0 ||
		 strcmp(status, "PAUSE_FAILED") == 0 || strcmp(status, "RESTORING") == 0 ||
		 strcmp(status, "RESTORE_FAILED") == 0 || strcmp(status, "COMING_UP") == 0);
}

/* ---------- reading answers ---------- */

typedef struct ReadState
{
	CallKind	kind;
	int			depth;
	bool		top_seen;
	bool		top_array;
	char	   *field[4];		/* the field being read at depths 1 to 3 */
	char	   *message;		/* {"message": ...} or {"error": ...} */
	bool		error;			/* a non-null "error" */
	char	   *status;			/* the project's */
	EdgeSnapshot *snap;			/* CALL_FUNCTIONS: where functions go */
	EdgeFunction *cur;
	bool		too_many;
	double		sums[3];		/* CALL_STATS: requests, 5xx, 4xx */
	bool		bad_number;
	bool		result_array;	/* CALL_STATS: "result" was an array */
} ReadState;

static SEM_RETURN_TYPE
read_container_start(ReadState *st, bool array)
{
	st->depth++;
	if (!st->top_seen)
	{
		st->top_seen = true;
		st->top_array = array;
	}
	if (st->depth < (int) lengthof(st->field))
		st->field[st->depth] = NULL;
	if (array && st->kind == CALL_STATS && st->depth == 2 && !st->top_array &&
		st->field[1] && strcmp(st->field[1], "result") == 0)
		st->result_array = true;
	if (!array && st->kind == CALL_FUNCTIONS && st->top_array && st->depth == 2)
	{
		EdgeSnapshot *snap = st->snap;

		st->cur = NULL;
		if (snap->nfunctions >= EDGE_MAX_FUNCTIONS)
			st->too_many = true;
		else
		{
			/* grown as the list comes: a check holds every project's until recorded */
			if (snap->nfunctions >= snap->functions_room)
			{
				snap->functions_room = Min(snap->functions_room * 2, EDGE_MAX_FUNCTIONS);
				snap->functions = repalloc(snap->functions,
										   sizeof(EdgeFunction) * snap->functions_room);
			}
			st->cur = &snap->functions[snap->nfunctions++];
			memset(st->cur, 0, sizeof(EdgeFunction));
			st->cur->version = -1;
			st->cur->updated_at = PG_INT64_MIN;
		}
	}
	SEM_RETURN;
}

static SEM_RETURN_TYPE
read_object_start(void *state)
{
	return read_container_start(state, false);
}

static SEM_RETURN_TYPE
read_array_start(void *state)
{
	return read_container_start(state, true);
}

static SEM_RETURN_TYPE
read_container_end(void *state)
{
	ReadState  *st = state;

	if (st->kind == CALL_FUNCTIONS && st->top_array && st->depth == 2)
		st->cur = NULL;
	st->depth--;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
read_field_start(void *state, char *fname, bool isnull)
{
	ReadState  *st = state;

	if (fname == NULL)
		SEM_RETURN;

	if (st->depth >= 1 && st->depth < (int) lengthof(st->field))
		st->field[st->depth] = fname;
	if (st->depth == 1 && !st->top_array && strcmp(fname, "error") == 0 && !isnull)
		st->error = true;
	SEM_RETURN;
}

/* A count from an answer: a finite number from 0 to 10^15. */
static bool
read_count(const char *token, JsonTokenType type, double *out)
{
	char	   *end;
	double		d;

	if (type != JSON_TOKEN_NUMBER)
		return false;
	d = strtod(token, &end);
	if (*end != '\0' || !isfinite(d) || d < 0 || d > 1e15)
		return false;
	*out = d;
	return true;
}

static SEM_RETURN_TYPE
read_scalar(void *state, char *token, JsonTokenType type)
{
	ReadState  *st = state;
	const char *f1 = st->depth >= 1 ? st->field[1] : NULL;
	bool		is_string = type == JSON_TOKEN_STRING && token != NULL;

	if (token == NULL)
		SEM_RETURN;

	if (st->depth == 1 && !st->top_array && f1)
	{
		if (strcmp(f1, "message") == 0 && is_string)
			st->message = token;
		else if (strcmp(f1, "error") == 0 && is_string)
			st->message = token;
		else if (strcmp(f1, "status") == 0 && is_string)
			st->status = token;
	}
	else if (st->depth == 2 && !st->top_array && f1 && strcmp(f1, "error") == 0 &&
			 st->field[2] && strcmp(st->field[2], "message") == 0 && is_string)
		st->message = token;
	else if (st->kind == CALL_FUNCTIONS && st->depth == 2 && st->cur && st->field[2])
	{
		const char *f = st->field[2];
		EdgeFunction *fn = st->cur;
		double		d;

		if (strcmp(f, "id") == 0 && is_string)
			fn->id = token;
		else if (strcmp(f, "slug") == 0 && is_string)
			fn->slug = token;
		else if (strcmp(f, "status") == 0 && is_string)
			fn->status = token;
		else if (strcmp(f, "version") == 0 && read_count(token, type, &d) && d < 1e9)
			fn->version = (int64) d;
		else if (strcmp(f, "updated_at") == 0 && read_count(token, type, &d) && d < 1e13)
			fn->updated_at = (int64) d * 1000;	/* milliseconds to micro */
	}
	else if (st->kind == CALL_STATS && st->depth == 3 && f1 && strcmp(f1, "result") == 0 &&
			 st->field[3])
	{
		const char *f = st->field[3];
		int			k = strcmp(f, "requests_count") == 0 ? 0 :
			strcmp(f, "server_err_count") == 0 ? 1 :
			strcmp(f, "client_err_count") == 0 ? 2 : -1;
		double		d;

		if (k >= 0)
		{
			if (type == JSON_TOKEN_NULL)
				;				/* an empty bucket */
			else if (read_count(token, type, &d) && st->sums[k] + d <= 1e15)
				st->sums[k] += d;
			else
				st->bad_number = true;	/* junk, or a total no function serves */
		}
	}
	SEM_RETURN;
}

static bool
read_answer(HttpRequest *req, CallKind kind, EdgeSnapshot *snap, ReadState *st)
{
	JsonSemAction sem;

	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->snap = snap;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = st;
	sem.object_start = read_object_start;
	sem.array_start = read_array_start;
	sem.object_end = read_container_end;
	sem.array_end = read_container_end;
	sem.object_field_start = read_field_start;
	sem.scalar = read_scalar;
	return SupamonJsonParse(req->answer, req->answer_len, 16, &sem);
}

/* ---------- calls ---------- */

/* What a server or libcurl said: scrubbed of the token, cut, redacted. */
static char *
scrubbed(EdgeFleet *fleet, const char *what)
{
	char	   *s = at_scrub(what ? what : "", fleet->secrets, lengthof(fleet->secrets));
	char	   *copy;

	if (s == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	copy = pstrdup(s);
	free(s);
	return SupamonRedacted(SupamonCleanText(copy, 0), ERROR_CHARS);
}

static EdgeCall *
plan_call(EdgeFleet *fleet, EdgeWork *w, CallKind kind, int function)
{
	EdgeCall   *c = palloc0(sizeof(EdgeCall));
	EdgeSnapshot *snap = w->snap;

	c->work = w;
	c->kind = kind;
	c->function = function;
	c->http.owner = c;
	c->http.body = NULL;
	switch (kind)
	{
		case CALL_PROJECT:
			c->http.url = psprintf("%s/v1/projects/%s", fleet->base, w->ref);
			c->http.max_answer = PROJECT_MAX_ANSWER;
			break;
		case CALL_FUNCTIONS:
			c->http.url = psprintf("%s/v1/projects/%s/functions", fleet->base, w->ref);
			c->http.max_answer = LIST_MAX_ANSWER;
			break;
		case CALL_STATS:
			c->http.url = psprintf("%s/v1/projects/%s/analytics/endpoints/functions.combined-stats"
								   "?interval=%s&function_id=%s",
								   fleet->base, w->ref,
								   stats_intervals[supamon_edge_stats_interval],
								   snap->functions[function].id);
			c->http.max_answer = STATS_MAX_ANSWER;
			break;
	}
	if (w->ncalls == w->size)
	{
		w->size = Max(4, w->size * 2);
		w->calls = w->calls ? repalloc(w->calls, sizeof(EdgeCall *) * w->size) :
			palloc(sizeof(EdgeCall *) * w->size);
	}
	w->calls[w->ncalls++] = c;
	return c;
}

/* Stops a project's calls: what is not started never will be. */
static void
stop_work(EdgeWork *w, const char *why)
{
	EdgeSnapshot *snap = w->snap;

	w->stop = true;
	if (!snap->ok && snap->error == NULL)
		snap->error = pstrdup(why);
}

static void
rate_limited(EdgeWork *w, HttpRequest *req, bool refused_now)
{
	EdgeSnapshot *snap = w->snap;
	double		wait = req->retry_after;
	char		when[64];

	/* X-RateLimit-Reset: seconds to wait, or (when large) a Unix time */
	if (wait < 0 && req->rl_reset >= 0)
	{
		wait = req->rl_reset;
		if (wait > 1e9)
			wait -= (double) (GetCurrentTimestamp() / USECS_PER_SEC +
							  (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	}
	if (wait < 0)
		wait = DEFAULT_RATE_LIMIT_WAIT;
	wait = Max(1.0, Min(wait, 3600.0));
	snap->rate_limited = true;
	snap->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) ceil(wait * 1000));
	strlcpy(when, timestamptz_to_str(snap->retry_at), sizeof(when));
	stop_work(w, psprintf("the Management API %s: not asked again before %s",
						  refused_now ? "answered 429 (too many requests)" :
						  "said no request is left for now", when));
}

/* Why a call that did not succeed failed, in words. */
static char *
call_failure(EdgeFleet *fleet, EdgeCall *c, ReadState *st)
{
	HttpRequest *req = &c->http;

	if (req->too_big)
		return psprintf("its answer is larger than %zu kB", req->max_answer / 1024);
	if (req->result != CURLE_OK || req->status == 0)
		return psprintf("no answer: %s", scrubbed(fleet, req->error));
	if (req->status < 200 || req->status > 299)
		return psprintf("HTTP %ld%s%s", req->status, st && st->message ? ": " : "",
						st && st->message ? scrubbed(fleet, st->message) : "");
	return pstrdup("its answer is not the JSON supamon expects");
}

static int
compare_slugs(const void *a, const void *b)
{
	const EdgeFunction *x = a;
	const EdgeFunction *y = b;
	int			c = strcmp(x->slug, y->slug);

	/* of two with one slug, the newer version first: it is the one kept */
	if (c == 0)
		c = (x->version < y->version) - (x->version > y->version);
	return c;
}

static bool
usable_id(const char *id)
{
	size_t		n = id ? strlen(id) : 0;

	return n >= 1 && n <= 64 &&
		strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/*
 * A value of an answer, fit to keep: cleaned, cut, and never the token (an
 * API that echoes it back must not have it stored, shown or sent on).
 */
static char *
kept_value(EdgeFleet *fleet, const char *value, int maxchars)
{
	char	   *s = at_scrub(value, fleet->secrets, lengthof(fleet->secrets));
	char	   *copy;

	if (s == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	copy = SupamonCleanText(s, maxchars);
	free(s);
	return copy;
}

/* Makes what the list said fit to keep: clean text, one function a slug. */
static void
settle_functions(EdgeFleet *fleet, EdgeSnapshot *snap)
{
	int			kept = 0;

	for (int i = 0; i < snap->nfunctions; i++)
	{
		EdgeFunction *fn = &snap->functions[i];

		if (fn->slug == NULL || fn->slug[0] == '\0')
			continue;
		fn->slug = kept_value(fleet, fn->slug, 200);
		fn->status = fn->status ? kept_value(fleet, fn->status, 40) : pstrdup("UNKNOWN");
		if (!usable_id(fn->id) || strcmp(kept_value(fleet, fn->id, 64), fn->id) != 0)
			fn->id = NULL;
		snap->functions[kept++] = *fn;
	}
	snap->nfunctions = kept;
	if (kept > 1)
		qsort(snap->functions, kept, sizeof(EdgeFunction), compare_slugs);
	kept = 0;
	for (int i = 0; i < snap->nfunctions; i++)
	{
		if (kept > 0 && strcmp(snap->functions[kept - 1].slug, snap->functions[i].slug) == 0)
		{
			snap->duplicates++;
			continue;
		}
		snap->functions[kept++] = snap->functions[i];
	}
	snap->nfunctions = kept;
}

/* When a function's traffic was last read: PG_INT64_MIN for never. */
static int64
known_stats_at(const EdgeKnown *known, const char *slug)
{
	int			lo = 0;
	int			hi = known ? known->n : 0;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(known->slugs[mid], slug);

		if (c == 0)
			return known->stats_at[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return PG_INT64_MIN;
}

typedef struct StatsPick
{
	int			function;
	int64		stats_at;
} StatsPick;

static int
by_staleness(const void *a, const void *b)
{
	const StatsPick *x = a;
	const StatsPick *y = b;

	if (x->stats_at != y->stats_at)
		return x->stats_at < y->stats_at ? -1 : 1;
	return x->function - y->function;
}

/* The traffic calls of this check: the functions read longest ago first. */
static void
plan_stats(EdgeFleet *fleet, EdgeWork *w)
{
	EdgeSnapshot *snap = w->snap;
	StatsPick  *picks = palloc(sizeof(StatsPick) * Max(snap->nfunctions, 1));
	int			n = 0;

	for (int i = 0; i < snap->nfunctions; i++)
	{
		EdgeFunction *fn = &snap->functions[i];

		if (fn->id == NULL || strcmp(fn->status, "ACTIVE") != 0)
			continue;
		picks[n].function = i;
		picks[n].stats_at = known_stats_at(w->known, fn->slug);
		n++;
	}
	if (n > 1)
		qsort(picks, n, sizeof(StatsPick), by_staleness);
	for (int k = 0; k < n; k++)
	{
		if (k < EDGE_STATS_PER_CHECK)
			plan_call(fleet, w, CALL_STATS, picks[k].function);
		else
			snap->functions[picks[k].function].stats_deferred = true;
	}
	pfree(picks);
}

static void
call_done(EdgeFleet *fleet, EdgeCall *c)
{
	EdgeWork   *w = c->work;
	EdgeSnapshot *snap = w->snap;
	HttpRequest *req = &c->http;
	ReadState	st;
	bool		parsed = false;
	bool		success = req->result == CURLE_OK && !req->too_big &&
		req->status >= 200 && req->status <= 299;

	if (c->fd_held)
	{
		ReleaseExternalFD();
		c->fd_held = false;
	}
	w->in_flight--;
	fleet->in_flight--;

	if (req->result == CURLE_OK && !req->too_big)
		parsed = read_answer(req, c->kind, snap, &st);

	if (req->status == 429)
	{
		rate_limited(w, req, true);
		if (c->kind == CALL_STATS)
			snap->functions[c->function].stats_error = pstrdup("rate limited");
	}
	else if ((req->status == 401 || req->status == 403 || req->status == 404) &&
			 c->kind == CALL_FUNCTIONS && !req->too_big)
	{
		snap->refused = true;
		snap->ok = false;
		snap->error = NULL;
		stop_work(w, req->status == 404 ?
				  psprintf("the Management API does not know project ref \"%s\" (HTTP 404): check supabase_ref",
						   w->ref) :
				  psprintf("the Management API refused the access token (HTTP %ld%s%s): check supamon.supabase_access_token and its access to this project",
						   req->status, parsed && st.message ? ": " : "",
						   parsed && st.message ? scrubbed(fleet, st.message) : ""));
	}
	else if (c->kind == CALL_PROJECT)
	{
		if (success && parsed && !st.top_array && st.status)
			snap->project_status = kept_value(fleet, st.status, 40);
	}
	else if (c->kind == CALL_FUNCTIONS)
	{
		if (success && parsed && st.top_array && !st.too_many)
		{
			snap->ok = true;
			settle_functions(fleet, snap);
			plan_stats(fleet, w);
		}
		else
		{
			snap->nfunctions = 0;
			snap->error = st.too_many && success ?
				psprintf("the project has more than %d Edge Functions: supamon reads at most that many",
						 EDGE_MAX_FUNCTIONS) :
				psprintf("listing its Edge Functions failed: %s",
						 call_failure(fleet, c, parsed ? &st : NULL));
		}
	}
	else
	{
		EdgeFunction *fn = &snap->functions[c->function];

		if (success && parsed && !st.top_array && !st.error && !st.bad_number &&
			st.result_array && st.sums[1] + st.sums[2] <= st.sums[0])
		{
			fn->stats_ok = true;
			fn->requests = (int64) st.sums[0];
			fn->server_errors = (int64) st.sums[1];
			fn->client_errors = (int64) st.sums[2];
		}
		else if (success && parsed && st.error)
			fn->stats_error = psprintf("the API could not say: %s",
									   st.message ? scrubbed(fleet, st.message) : "an error");
		else if (success && parsed && !st.top_array && st.result_array && !st.bad_number)
			fn->stats_error = pstrdup("the API counted more errors than requests");
		else
			fn->stats_error = call_failure(fleet, c, parsed ? &st : NULL);
	}

	/* the API says nothing is left this minute: ask no more */
	if (!w->stop && req->rl_remaining == 0 && w->next < w->ncalls)
		rate_limited(w, req, false);
	if (req->answer)
		pfree(req->answer);
	req->answer = NULL;
}

/* Starts what may start now; false when nothing is left to do. */
static void
finish_work(EdgeWork *w)
{
	EdgeSnapshot *snap = w->snap;

	if (w->finished)
		return;
	w->finished = true;
	snap->settled = true;
	snap->elapsed_ms = (int) ((GetCurrentTimestamp() - w->started) / 1000);
	if (!snap->ok && snap->error == NULL)
		snap->error = pstrdup("the Management API gave no function list");
	for (int i = 0; snap->ok && i < snap->nfunctions; i++)
	{
		EdgeFunction *fn = &snap->functions[i];

		if (strcmp(fn->status, "ACTIVE") == 0 && !fn->stats_ok && !fn->stats_deferred)
		{
			snap->stats_missing++;
			if (fn->stats_error == NULL)
				fn->stats_error = pstrdup(fn->id ? "not answered in time" :
										  "its id is not one supamon can ask about");
		}
	}
}

static bool
start_calls(EdgeFleet *fleet)
{
	bool		left = false;
	TimestampTz now = GetCurrentTimestamp();
	long		remaining = (long) ((fleet->deadline - now) / 1000);

	/* past the deadline nothing starts: what is not read waits for the next check */
	if (remaining < 100)
	{
		for (int k = 0; k < fleet->n; k++)
		{
			EdgeWork   *w = &fleet->works[k];

			if (!w->stop && w->next < w->ncalls)
				stop_work(w, psprintf("the Management API did not answer within supamon.http_timeout (%d ms): not read this time",
									  supamon_http_timeout));
			if (w->stop && w->in_flight == 0)
				finish_work(w);
		}
		return fleet->in_flight > 0;
	}

	for (int k = 0; k < fleet->n; k++)
	{
		EdgeWork   *w = &fleet->works[(fleet->round + k) % fleet->n];

		while (!w->stop && w->next < w->ncalls && w->in_flight < EDGE_PER_PROJECT &&
			   fleet->in_flight < fleet->max_in_flight)
		{
			EdgeCall   *c = w->calls[w->next];

			if (!AcquireExternalFD())
			{
				/* the others give theirs back; with none out, none will */
				if (fleet->in_flight == 0)
					stop_work(w, "no file descriptor was free to call the Management API");
				break;
			}
			c->fd_held = true;
			w->next++;
			c->started = true;
			HttpAddHeader(&c->http, fleet->auth);
			HttpStart(fleet->http, &c->http, remaining);
			w->in_flight++;
			fleet->in_flight++;
		}
		if (!w->stop && w->next < w->ncalls)
			left = true;
	}
	fleet->round = fleet->n > 0 ? (fleet->round + 1) % fleet->n : 0;
	return left || fleet->in_flight > 0;
}

static bool
fleet_step(void *arg)
{
	EdgeFleet  *fleet = arg;
	HttpRequest *req;
	bool		busy;

	CHECK_FOR_INTERRUPTS();
	while ((req = HttpNextDone(fleet->http)) != NULL)
	{
		EdgeCall   *c = req->owner;

		call_done(fleet, c);
		if (c->work->in_flight == 0 && (c->work->stop || c->work->next >= c->work->ncalls))
			finish_work(c->work);
	}
	busy = start_calls(fleet);
	return busy;
}

EdgeFleet *
EdgeFleetPlan(const char *const *refs, const TimestampTz *blocked_until,
			  const EdgeKnown *known, EdgeSnapshot *snaps, int n, RemoteSideWork *side)
{
	EdgeFleet  *fleet;
	const char *token = supamon_supabase_access_token;
	const char *base = supamon_management_api_url ? supamon_management_api_url : "";
	char		err[256];
	const char *config_problem = NULL;
	TimestampTz now = GetCurrentTimestamp();
	int			asked = 0;

	if (token == NULL || token[0] == '\0')
		return NULL;
	for (const char *t = token; *t; t++)
		if ((unsigned char) *t <= 0x20 || (unsigned char) *t >= 0x7F)
			config_problem = "supamon.supabase_access_token holds whitespace, a control or a non-ASCII character";
	if (config_problem == NULL && !at_check_url(base, err, sizeof(err)))
		config_problem = psprintf("supamon.management_api_url is not usable: %s", err);
	if (config_problem == NULL && DeliverClearTextProblem(base))
		config_problem = psprintf("supamon.management_api_url: %s", DeliverClearTextProblem(base));

	fleet = palloc0(sizeof(EdgeFleet));
	fleet->base = pstrdup(base);
	for (int len = strlen(fleet->base); len > 0 && fleet->base[len - 1] == '/'; len--)
		fleet->base[len - 1] = '\0';
	fleet->auth = psprintf("Authorization: Bearer %s", token);
	fleet->secrets[0] = token;
	fleet->secrets[1] = fleet->auth;
	fleet->works = palloc0(sizeof(EdgeWork) * Max(n, 1));
	fleet->snaps = snaps;
	fleet->max_in_flight = Min(EDGE_MAX_IN_FLIGHT, Max(supamon_max_connections, 2));

	for (int i = 0; i < n; i++)
	{
		EdgeSnapshot *snap = &snaps[i];

		memset(snap, 0, sizeof(*snap));
		if (refs[i] == NULL)
			continue;
		if (config_problem)
		{
			snap->asked = true;
			snap->settled = true;
			snap->refused = true;
			snap->error = pstrdup(config_problem);
			continue;
		}
		if (blocked_until[i] > now)
		{
			snap->rate_limited = true;
			snap->retry_at = blocked_until[i];
			snap->error = psprintf("the Management API limited supamon's requests: not asked before %s",
								   timestamptz_to_str(blocked_until[i]));
			continue;
		}
		snap->asked = true;
		snap->functions_room = 8;
		snap->functions = palloc0(sizeof(EdgeFunction) * snap->functions_room);
		fleet->works[fleet->n].snap = snap;
		fleet->works[fleet->n].ref = refs[i];
		fleet->works[fleet->n].started = now;
		fleet->works[fleet->n].known = known ? &known[i] : NULL;
		plan_call(fleet, &fleet->works[fleet->n], CALL_FUNCTIONS, -1);
		fleet->n++;
		asked++;
	}
	if (asked == 0)
		return NULL;
	fleet->deadline = TimestampTzPlusMilliseconds(now, supamon_http_timeout);
	/* a request may hold two sockets (happy eyeballs), plus curl's own */
	fleet->http = HttpClientCreate(4 * fleet->max_in_flight + 16);
	side->http = fleet->http;
	side->step = fleet_step;
	side->arg = fleet;
	return fleet;
}

bool
EdgeFleetAskStatus(EdgeFleet *fleet, const bool *unreachable, int n)
{
	int			asked = 0;

	if (fleet == NULL)
		return false;
	for (int k = 0; k < fleet->n; k++)
	{
		EdgeWork   *w = &fleet->works[k];
		int			i = (int) (w->snap - fleet->snaps);

		/* a token refused or a limit reached: asking again would not help */
		if (i < 0 || i >= n || !unreachable[i] || w->snap->refused || w->snap->rate_limited)
			continue;
		/* what the first phase left unstarted stays so: only this call runs */
		finish_work(w);
		w->next = w->ncalls;
		w->stop = false;
		plan_call(fleet, w, CALL_PROJECT, -1);
		asked++;
	}
	fleet->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), supamon_http_timeout);
	return asked > 0;
}

void
EdgeFleetRelease(EdgeFleet *fleet)
{
	if (fleet == NULL)
		return;
	HttpClientDestroy(fleet->http);
	fleet->http = NULL;
	for (int i = 0; i < fleet->n; i++)
	{
		EdgeWork   *w = &fleet->works[i];

		for (int k = 0; k < w->ncalls; k++)
		{
			if (w->calls[k]->fd_held)
			{
				ReleaseExternalFD();
				w->calls[k]->fd_held = false;
			}
		}
		/* a call cut short is no answer */
		if (w->in_flight > 0 || (!w->stop && w->next < w->ncalls))
		{
			w->in_flight = 0;
			w->stop = true;
			if (!w->snap->ok && w->snap->error == NULL)
				w->snap->error = pstrdup("the check ended before the Management API answered");
		}
		finish_work(w);
	}
	fleet->in_flight = 0;
}
