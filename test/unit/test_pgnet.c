/*
 * test_pgnet.c
 *		Unit tests of src/pgnet.c: what a pg_cron command calls through
 *		pg_net, and which run a response is told to belong to.
 */
#include "pgnet.h"
#include "unit.h"

#include <string.h>

#define SEC 1000000LL

static void
test_parse(void)
{
	PnCall		c;

	CHECK(!pn_parse_command("SELECT 1", &c), "no call");
	CHECK(!pn_parse_command(NULL, &c), "NULL");
	CHECK(!pn_parse_command("select mynet.http_get('x')", &c), "another schema");
	CHECK(!pn_parse_command("select net.http_getter('x')", &c), "another function");
	CHECK(!pn_parse_command("select net.http_collect_response(1)", &c), "not a request");

	CHECK(pn_parse_command("select net.http_post(url:='https://abc.supabase.co/functions/v1/hello-world?key=secret', body:='{}'::jsonb)", &c),
		  "named url");
	CHECK(c.ncalls == 1, "one call: %d", c.ncalls);
	CHECK(strcmp(c.url, "https://abc.supabase.co/functions/v1/hello-world") == 0, "url without query: %s", c.url);
	CHECK(strcmp(c.slug, "hello-world") == 0, "slug: %s", c.slug);
	CHECK(c.timeout_ms == -1, "no timeout: %d", c.timeout_ms);

	CHECK(pn_parse_command("SELECT NET.HTTP_GET ( 'http://x/y' , timeout_milliseconds => 2500)", &c), "upper case, positional");
	CHECK(strcmp(c.url, "http://x/y") == 0 && c.slug[0] == '\0', "url %s slug %s", c.url, c.slug);
	CHECK(c.timeout_ms == 2500, "timeout %d", c.timeout_ms);

	CHECK(pn_parse_command("select \"net\".\"http_post\"(url := 'https://h/a''b')", &c), "quoted names");
	CHECK(strcmp(c.url, "https://h/a'b") == 0, "doubled quote: %s", c.url);

	/* a URL built at run time: no literal, but the slug is still seen */
	CHECK(pn_parse_command("select net.http_post(url := (select decrypted_secret from vault.decrypted_secrets where name = 'url') || '/functions/v1/nightly', body := '{}')", &c),
		  "computed url");
	CHECK(c.url[0] == '\0' && strcmp(c.slug, "nightly") == 0, "url '%s' slug '%s'", c.url, c.slug);

	CHECK(pn_parse_command("select net.http_get('a'); select net.http_delete('b', timeout_milliseconds := 99999999999)", &c),
		  "two calls");
	CHECK(c.ncalls == 2 && strcmp(c.url, "a") == 0, "two: %d %s", c.ncalls, c.url);
	CHECK(c.timeout_ms == -1, "an 11-digit timeout is not a timeout: %d", c.timeout_ms);
	CHECK(pn_parse_command("select net.http_get('a', timeout_milliseconds := 900000)", &c) &&
		  c.timeout_ms == PN_MAX_TIMEOUT_MS, "capped: %d", c.timeout_ms);

	CHECK(pn_parse_command("select net.http_get('never closed", &c) && c.url[0] == '\0', "unclosed literal");

	/* calls in comments and literals are no calls */
	CHECK(!pn_parse_command("select 1 -- net.http_post('x')", &c), "line comment");
	CHECK(!pn_parse_command("select /* net.http_get('x') */ 1", &c), "block comment");
	CHECK(!pn_parse_command("select 'net.http_get(''x'')'", &c), "in a literal");
	CHECK(pn_parse_command("select net.http_get('a') -- net.http_get('b')", &c) && c.ncalls == 1,
		  "one real call beside a commented one: %d", c.ncalls);
	CHECK(pn_parse_command("do $$ begin perform net.http_post('https://h/x'); end $$", &c) && c.ncalls == 1,
		  "a DO block's call is a call");
	CHECK(pn_parse_command("update t set note = E'it\\'s'; select net.http_post('https://x.supabase.co/functions/v1/f')", &c) &&
		  c.ncalls == 1 && strcmp(c.slug, "f") == 0, "an escape string's quote ends nothing: %d", c.ncalls);
	CHECK(pn_parse_command("select net.http_post('https://x/a', body := $$/* {}$$::jsonb); select net.http_post('https://x/b')", &c) &&
		  c.ncalls == 2, "a dollar-quoted body opens no comment: %d", c.ncalls);
	CHECK(pn_parse_command("select net.http_post('https://x/a', body := $j$ -- ' $j$::jsonb); select net.http_get('https://x/b')", &c) &&
		  c.ncalls == 2, "nor a line comment or a literal: %d", c.ncalls);
	CHECK(!pn_parse_command("select $1, $$never closed net", &c), "an unclosed dollar quote without a call");
	CHECK(pn_parse_command("select $$ net.http_get('x')", &c) && c.ncalls == 1, "with one: %d", c.ncalls);
	CHECK(pn_parse_command("select net.http_get(E'a\\\\b')", &c) && c.url[0] == '\0', "escape string with backslash");
	{
		char		big[2000];

		memset(big, 'a', sizeof(big));
		memcpy(big, "select net.http_get('", 21);
		big[sizeof(big) - 3] = '\'';
		big[sizeof(big) - 2] = ')';
		big[sizeof(big) - 1] = '\0';
		CHECK(pn_parse_command(big, &c) && c.url[0] == '\0', "a URL too long to keep is no URL");
	}
}

static PnRun
run(int64_t runid, int64_t from, int64_t until)
{
	PnRun		r;

	memset(&r, 0, sizeof(r));
	r.runid = runid;
	r.from = from * SEC;
	r.until = until * SEC;
	r.response = -1;
	return r;
}

static PnResponse
resp(int64_t at, int status)
{
	PnResponse	r;

	memset(&r, 0, sizeof(r));
	r.created = at * SEC;
	r.status = status;
	return r;
}

static PnRun *
find(PnRun *runs, int n, int64_t runid)
{
	for (int i = 0; i < n; i++)
		if (runs[i].runid == runid)
			return &runs[i];
	return NULL;
}

static void
test_attribute(void)
{
	PnRun		runs[4];
	PnResponse	r[4];

	/* one run, one response: told */
	runs[0] = run(1, 100, 115);
	r[0] = resp(101, 500);
	pn_attribute(runs, 1, r, 1, 200 * SEC);
	CHECK(runs[0].verdict == PN_FAILED && runs[0].response == 0, "one 500: %d", runs[0].verdict);

	r[0] = resp(101, 204);
	runs[0] = run(1, 100, 115);
	pn_attribute(runs, 1, r, 1, 200 * SEC);
	CHECK(runs[0].verdict == PN_OK, "one 204: %d", runs[0].verdict);

	/* the window still open: pending */
	runs[0] = run(1, 100, 115);
	pn_attribute(runs, 1, r, 1, 110 * SEC);
	CHECK(runs[0].verdict == PN_PENDING, "open: %d", runs[0].verdict);

	/* no response at all: unknown, never failed */
	runs[0] = run(1, 100, 115);
	pn_attribute(runs, 1, r, 0, 200 * SEC);
	CHECK(runs[0].verdict == PN_UNKNOWN, "none: %d", runs[0].verdict);

	/* another caller's response in the window too: unknown */
	runs[0] = run(1, 100, 115);
	r[0] = resp(101, 500);
	r[1] = resp(102, 200);
	pn_attribute(runs, 1, r, 2, 200 * SEC);
	CHECK(runs[0].verdict == PN_UNKNOWN, "two answers for one run: %d", runs[0].verdict);

	/* two runs at once, one 500 and one 200: no one blamed */
	runs[0] = run(1, 100, 115);
	runs[1] = run(2, 100, 116);
	pn_attribute(runs, 2, r, 2, 200 * SEC);
	CHECK(find(runs, 2, 1)->verdict == PN_UNKNOWN && find(runs, 2, 2)->verdict == PN_UNKNOWN,
		  "ambiguous pair: %d %d", find(runs, 2, 1)->verdict, find(runs, 2, 2)->verdict);

	/* two runs at once, both answers 500: both failed */
	runs[0] = run(1, 100, 115);
	runs[1] = run(2, 100, 116);
	r[1] = resp(103, 502);
	pn_attribute(runs, 2, r, 2, 200 * SEC);
	CHECK(find(runs, 2, 1)->verdict == PN_FAILED && find(runs, 2, 2)->verdict == PN_FAILED,
		  "both failed");
	CHECK(find(runs, 2, 1)->cluster_runs == 2 && find(runs, 2, 1)->cluster_responses == 2, "cluster");

	/* windows apart: each its own */
	runs[0] = run(7, 300, 315);
	runs[1] = run(6, 100, 115);
	r[0] = resp(101, 200);
	r[1] = resp(301, 500);
	pn_attribute(runs, 2, r, 2, 400 * SEC);
	CHECK(find(runs, 2, 6)->verdict == PN_OK && find(runs, 2, 7)->verdict == PN_FAILED,
		  "apart: %d %d", find(runs, 2, 6)->verdict, find(runs, 2, 7)->verdict);
	CHECK(find(runs, 2, 7)->response == 1, "the 500 is the one told");

	/* a response before the run started is not its */
	runs[0] = run(1, 100, 115);
	r[0] = resp(99, 500);
	pn_attribute(runs, 1, r, 1, 200 * SEC);
	CHECK(runs[0].verdict == PN_UNKNOWN, "before the run: %d", runs[0].verdict);

	/* a decided run still counts in its cluster, and is not decided again */
	runs[0] = run(1, 100, 115);
	runs[0].decided = true;
	runs[0].verdict = PN_OK;
	runs[1] = run(2, 110, 125);
	r[0] = resp(101, 200);
	r[1] = resp(112, 500);
	pn_attribute(runs, 2, r, 2, 200 * SEC);
	CHECK(find(runs, 2, 2)->verdict == PN_UNKNOWN, "mixed cluster: %d", find(runs, 2, 2)->verdict);
	CHECK(find(runs, 2, 1)->verdict == PN_OK, "decided kept");

	/* a chain of overlapping windows: each run decided from its own neighbours */
	{
		PnRun		chain[6];
		PnResponse	cr[6];

		for (int i = 0; i < 6; i++)
		{
			chain[i] = run(10 + i, 100 + 10 * i, 115 + 10 * i);
			cr[i] = resp(101 + 10 * i, 500);
		}
		/*
		 * The last window is still open: the first runs are judged anyway
		 * (unknown: the third run's answer falls in the first's span too).
		 */
		pn_attribute(chain, 6, cr, 6, 160 * SEC);
		CHECK(find(chain, 6, 10)->verdict == PN_UNKNOWN && find(chain, 6, 10)->cluster_responses == 3,
			  "first of a chain: %d", find(chain, 6, 10)->verdict);
		CHECK(find(chain, 6, 15)->verdict == PN_PENDING, "last of a chain: %d", find(chain, 6, 15)->verdict);
	}

	/* closed, but pg_net may still be committing: pending for PN_LATE_MS */
	runs[0] = run(1, 100, 115);
	r[0] = resp(101, 500);
	pn_attribute(runs, 1, r, 1, 130 * SEC);
	CHECK(runs[0].verdict == PN_PENDING, "late grace: %d", runs[0].verdict);

	/* a run that makes two requests counts for two */
	runs[0] = run(1, 100, 115);
	runs[0].expected = 2;
	r[0] = resp(101, 500);
	r[1] = resp(102, 500);
	pn_attribute(runs, 1, r, 2, 200 * SEC);
	CHECK(runs[0].verdict == PN_FAILED, "two calls, two failures: %d", runs[0].verdict);
	runs[0] = run(1, 100, 115);
	runs[0].expected = 2;
	pn_attribute(runs, 1, r, 1, 200 * SEC);
	CHECK(runs[0].verdict == PN_UNKNOWN, "two calls, one response: %d", runs[0].verdict);

	/* timeouts and pg_net errors are failures, whatever the status */
	{
		PnResponse	t = resp(0, 200);

		t.timed_out = true;
		CHECK(pn_response_failed(&t), "timed out");
		t = resp(0, 0);
		CHECK(pn_response_failed(&t), "no status");
		t = resp(0, 404);
		CHECK(pn_response_failed(&t), "404");
		t = resp(0, 302);
		CHECK(!pn_response_failed(&t), "302");
	}

	/* the window: start to end + timeout + pg_net's delay */
	{
		PnCall		c;
		int64_t		from,
					until;

		pn_parse_command("select net.http_get('x', timeout_milliseconds := 1000)", &c);
		pn_window(&c, 100 * SEC, 101 * SEC, &from, &until);
		CHECK(from == 99 * SEC && until == 101 * SEC + 11 * SEC, "window %lld %lld",
			  (long long) from, (long long) until);
		pn_parse_command("select net.http_get('x')", &c);
		pn_window(&c, 100 * SEC, 0, &from, &until);
		CHECK(until == 100 * SEC + 15 * SEC, "no end: %lld", (long long) until);
	}
}

int
main(void)
{
	test_parse();
	test_attribute();
	return unit_finish("test_pgnet");
}
