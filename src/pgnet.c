/*
 * pgnet.c
 *		What a pg_cron command calls through pg_net, and which run a
 *		response belongs to.  Pure C (see pgnet.h).
 */
#include "pgnet.h"

#include <stdlib.h>
#include <string.h>

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
is_word(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c >= 0x80;
}

/* Whether p starts with the ASCII word w, in any case. */
static bool
starts_ci(const char *p, const char *w)
{
	for (; *w; p++, w++)
		if (lower((unsigned char) *p) != *w)
			return false;
	return true;
}

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
		p++;
	return p;
}

/*
 * A call of net.http_get, _post or _delete at p ("net" and the function
 * name maybe double-quoted, blanks before the parenthesis): what follows
 * the parenthesis, or NULL.
 */
static const char *
call_at(const char *p, const char *start)
{
	static const char *const verbs[] = {"http_get", "http_post", "http_delete"};
	const char *q = p;
	bool		quoted;

	if (p > start && (is_word((unsigned char) p[-1]) || p[-1] == '"' || p[-1] == '.'))
		return NULL;
	quoted = *q == '"';
	q += quoted;
	if (!starts_ci(q, "net"))
		return NULL;
	q += 3;
	if (quoted && *q++ != '"')
		return NULL;
	if (*q++ != '.')
		return NULL;
	quoted = *q == '"';
	q += quoted;
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
	{
		size_t		n = strlen(verbs[v]);
		const char *r = q + n;

		if (!starts_ci(q, verbs[v]))
			continue;
		if (quoted && *r++ != '"')
			return NULL;
		if (!quoted && is_word((unsigned char) *r))
			return NULL;
		r = skip_space(r);
		return *r == '(' ? r + 1 : NULL;
	}
	return NULL;
}

/*
 * A string literal at p ('...' with '' for a quote; E'...' is taken only
 * without backslashes): its text into buf, true when it fit.
 */
static bool
literal_at(const char *p, char *buf, size_t len)
{
	size_t		n = 0;

	if (*p == 'E' || *p == 'e')
	{
		p++;
		if (*p == '\'' && strchr(p + 1, '\\') != NULL)
			return false;
	}
	if (*p != '\'')
		return false;
	for (p++; *p; p++)
	{
		if (*p == '\'')
		{
			if (p[1] != '\'')
			{
				buf[n] = '\0';
				return true;
			}
			p++;
		}
		if (n + 1 >= len)
			return false;
		buf[n++] = *p;
	}
	return false;				/* never closed */
}

/* "/functions/v1/<slug>" in s: the slug into out (empty when none). */
static void
find_slug(const char *s, char *out, size_t len)
{
	const char *p;

	out[0] = '\0';
	for (p = s; *p; p++)
	{
		size_t		n = 0;
		const char *q;

		if (!starts_ci(p, "/functions/v1/"))
			continue;
		q = p + strlen("/functions/v1/");
		while ((is_word((unsigned char) q[n]) || q[n] == '-') && (unsigned char) q[n] < 0x80 && n + 1 < len)
			n++;
		if (n > 0 && n + 1 < len)
		{
			memcpy(out, q, n);
			out[n] = '\0';
			return;
		}
	}
}

/* The length of a dollar-quote delimiter ($$ or $tag$) at p, or 0. */
static size_t
dollar_tag(const char *p)
{
	size_t		n = 1;

	if (p[0] != '$')
		return 0;
	/* a tag starts with a letter or _ ($1 is a parameter) */
	if (p[1] != '$' && !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') || p[1] == '_'))
		return 0;
	while (p[n] != '$')
	{
		if (!is_word((unsigned char) p[n]) || p[n] == '\0')
			return 0;
		n++;
	}
	return n + 1;
}

/*
 * Where the text resumes after a comment or a quoted literal starting at
 * p, or p itself when none starts there.  E'...' takes backslash escapes.
 */
static const char *
skip_inert(const char *p, const char *start)
{
	bool		escapes = false;

	if (p[0] == '-' && p[1] == '-')
	{
		while (*p && *p != '\n')
			p++;
		return p;
	}
	if (p[0] == '/' && p[1] == '*')
	{
		const char *end = strstr(p + 2, "*/");

		return end ? end + 2 : p + strlen(p);
	}
	if ((p[0] == 'E' || p[0] == 'e') && p[1] == '\'' &&
		(p == start || !is_word((unsigned char) p[-1])))
	{
		escapes = true;
		p++;
	}
	if (p[0] == '\'' || p[0] == '"')
	{
		char		q = p[0];

		for (p++; *p; p++)
		{
			if (escapes && *p == '\\' && p[1])
				p++;
			else if (*p == q)
			{
				if (p[1] != q)
					return p + 1;
				p++;
			}
		}
		return p;
	}
	return p;
}

bool
pn_parse_command(const char *command, PnCall *out)
{
	const char *first = NULL;

	memset(out, 0, sizeof(*out));
	out->timeout_ms = -1;
	if (command == NULL)
		return false;
	for (const char *p = command; *p;)
	{
		const char *args = call_at(p, command);
		const char *next;
		size_t		tag;

		if (args != NULL)
		{
			if (out->ncalls++ == 0)
				first = args;
			p++;
			continue;
		}

		/*
		 * A dollar-quoted body (a DO block's, a JSON body's) is read for
		 * calls only: what would be a comment or a literal in SQL may be
		 * anything there.
		 */
		if ((tag = dollar_tag(p)) > 0)
		{
			const char *close;

			for (close = p + tag; *close; close++)
				if (strncmp(close, p, tag) == 0)
					break;
			for (const char *q = p + tag; q < close; q++)
			{
				const char *inner = call_at(q, command);

				if (inner != NULL && out->ncalls++ == 0)
					first = inner;
			}
			p = *close ? close + tag : close;
			continue;
		}
		next = skip_inert(p, command);
		p = next != p ? next : p + 1;
	}
	if (out->ncalls == 0)
		return false;

	/* the URL: the first argument, by position or named url */
	{
		const char *p = skip_space(first);

		if (starts_ci(p, "url") && !is_word((unsigned char) p[3]))
		{
			p = skip_space(p + 3);
			if (p[0] == ':' && p[1] == '=')
				p = skip_space(p + 2);
			else if (p[0] == '=' && p[1] == '>')
				p = skip_space(p + 2);
			else
				p = NULL;
		}
		if (p == NULL || !literal_at(p, out->url, sizeof(out->url)))
			out->url[0] = '\0';
		else
		{
			/* a query string may carry a key: never kept */
			char	   *q = strchr(out->url, '?');

			if (q)
				*q = '\0';
		}
	}
	find_slug(out->url[0] ? out->url : command, out->slug, sizeof(out->slug));

	/* a literal timeout_milliseconds := N (or => N) */
	for (const char *p = command; *p; p++)
	{
		const char *q;
		long		ms = 0;
		int			digits = 0;

		if (!starts_ci(p, "timeout_milliseconds") || (p > command && is_word((unsigned char) p[-1])))
			continue;
		q = skip_space(p + strlen("timeout_milliseconds"));
		if (!((q[0] == ':' && q[1] == '=') || (q[0] == '=' && q[1] == '>')))
			continue;
		q = skip_space(q + 2);
		while (*q >= '0' && *q <= '9' && digits < 10)
		{
			ms = ms * 10 + (*q++ - '0');
			digits++;
		}
		if (digits > 0 && !is_word((unsigned char) *q))
		{
			out->timeout_ms = ms > PN_MAX_TIMEOUT_MS ? PN_MAX_TIMEOUT_MS : (int) ms;
			break;
		}
	}
	return true;
}

void
pn_window(const PnCall *call, int64_t start, int64_t end, int64_t *from, int64_t *until)
{
	int64_t		timeout = call->timeout_ms >= 0 ? call->timeout_ms : PN_DEFAULT_TIMEOUT_MS;

	/*
	 * The request is queued by the run's transaction, which pg_cron may
	 * start a moment before the start_time it records: a second's slack.
	 */
	*from = start - 1000000;
	*until = (end > start ? end : start) + (timeout + PN_WORKER_DELAY_MS) * (int64_t) 1000;
}

bool
pn_response_failed(const PnResponse *r)
{
	return r->timed_out || r->error || r->status < 200 || r->status >= 400;
}

static int
by_window(const void *a, const void *b)
{
	const PnRun *x = a;
	const PnRun *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return (x->until > y->until) - (x->until < y->until);
}

/* The first response created at or after t. */
static int
first_at(const PnResponse *r, int n, int64_t t)
{
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (r[mid].created < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Decides one run: its window and those of the runs whose windows meet it
 * (not theirs in turn: a chain of overlapping runs never holds a verdict
 * back), once all have closed and pg_net has had PN_LATE_MS more to make its
 * responses visible.  Told apart when the span holds exactly as many
 * responses as those runs make, and either one run or answers that agree.
 */
static void
decide_run(PnRun *runs, int nruns, int i, const PnResponse *resp, int nresp, int64_t now)
{
	PnRun	   *r = &runs[i];
	int64_t		lo = r->from;
	int64_t		hi = r->until;
	int			k = r->expected > 0 ? r->expected : 1;
	int			nruns_here = 1;
	int			first,
				last,
				nfailed = 0,
				some_failed = -1,
				some_ok = -1;

	for (int j = 0; j < nruns; j++)
	{
		if (j == i || runs[j].from > r->until || runs[j].until < r->from)
			continue;
		lo = runs[j].from < lo ? runs[j].from : lo;
		hi = runs[j].until > hi ? runs[j].until : hi;
		k += runs[j].expected > 0 ? runs[j].expected : 1;
		nruns_here++;
	}
	r->cluster_runs = nruns_here;
	if (hi + (int64_t) PN_LATE_MS * 1000 > now)
	{
		r->verdict = PN_PENDING;
		return;
	}
	first = first_at(resp, nresp, lo);
	for (last = first; last < nresp && resp[last].created <= hi; last++)
	{
		if (pn_response_failed(&resp[last]))
		{
			nfailed++;
			if (some_failed < 0)
				some_failed = last;
		}
		else if (some_ok < 0)
			some_ok = last;
	}
	r->cluster_responses = last - first;
	r->response = -1;
	if (last - first != k)
		r->verdict = PN_UNKNOWN;	/* a response missing, or another caller's */
	else if (nfailed == k)
	{
		r->verdict = PN_FAILED;
		r->response = some_failed;
	}
	else if (nfailed == 0)
	{
		r->verdict = PN_OK;
		r->response = some_ok;
	}
	else
		r->verdict = PN_UNKNOWN;	/* some failed, but whose? */
}

void
pn_attribute(PnRun *runs, int nruns, const PnResponse *responses, int nresponses,
			 int64_t now)
{
	if (nruns <= 0)
		return;
	qsort(runs, nruns, sizeof(PnRun), by_window);
	for (int i = 0; i < nruns; i++)
		if (!runs[i].decided)
			decide_run(runs, nruns, i, responses, nresponses, now);
}
