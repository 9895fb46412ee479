/*
 * test_alert_text.c
 *		Unit tests of the alert texts and the channel checks
 *		(src/alert_text.c): known answers, hostile inputs, and random inputs
 *		through everything with the invariants of alert_check.h.
 */
#include "alert_text.h"
#include "alert_check.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMOJI "\xF0\x9F\x98\x80"	/* U+1F600, two UTF-16 units */
#define ZWSP "\xE2\x80\x8B"
#define FFFD "\xEF\xBF\xBD"

static const AlertInfo failed_job = {
	.project = "myproj",
	.job = "nightly-backup",
	.event = "failed",
	.status = "failed",
	.previous = "success",
	.criticality = "critical",
	.reason = "the latest run failed",
	.schedule = "*/5 * * * *",
	.schedule_meaning = "every 5 minutes",
	.last_run = "2026-11-29 03:00 UTC (failed)",
	.error = "ERROR:  relation \"foo\" does not exist\nLINE 1: select * from foo\n"
	"                      ^\n",
	.next_expected = "2026-11-29 03:05 UTC",
	.at = "2026-11-30T05:00:00Z"
};

/* A string of n copies of s. */
static char *
repeat(const char *s, size_t n)
{
	size_t		l = strlen(s);
	char	   *r = malloc(l * n + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(r + i * l, s, l);
	r[l * n] = '\0';
	return r;
}

static const AtField *
field(const AtEmbed *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return &e->fields[i];
	return NULL;
}

/* The checks every output gets, with what went in for the message. */
static void
check_all(const AlertInfo *a, const char *what)
{
	AtDiscordMessage m;
	char	   *t;
	const char *why;

	CHECK(at_discord_message(a, &m), "out of memory? %s", what);
	why = ac_check_discord(&m);
	CHECK(why == NULL && m.nembeds == 1, "discord %s: %s", what, why);
	at_discord_free(&m);
	t = at_telegram_text(a);
	why = ac_check_telegram(t);
	CHECK(why == NULL, "telegram %s: %s", what, why);
	free(t);
	t = at_plain_line(a);
	why = ac_check_text(t, AT_PLAIN_MAX, false);
	CHECK(why == NULL, "plain %s: %s", what, why);
	free(t);
}

static void
check_digests(const AlertInfo *const *alerts, int n, const char *what)
{
	AtDiscordMessage m;
	char	   *t;
	const char *why;

	CHECK(at_discord_digest(alerts, n, &m), "out of memory? %s", what);
	why = ac_check_discord(&m);
	CHECK(why == NULL, "discord digest of %d %s: %s", n, what, why);
	CHECK(m.nembeds == (n < AT_MAX_EMBEDS ? n : AT_MAX_EMBEDS) || n > AT_MAX_EMBEDS - 1,
		  "%d alerts, %d embeds (%s)", n, m.nembeds, what);
	at_discord_free(&m);
	t = at_telegram_digest(alerts, n);
	why = ac_check_telegram(t);
	CHECK(why == NULL, "telegram digest of %d %s: %s", n, what, why);
	free(t);
}

static void
test_discord_one(void)
{
	AtDiscordMessage m;
	AlertInfo	a = failed_job;
	const AtEmbed *e;
	const AtField *f;

	CHECK(at_discord_message(&a, &m), "oom");
	e = &m.embeds[0];
	CHECK(m.content == NULL && m.nembeds == 1, "%d", m.nembeds);
	CHECK(strcmp(e->title, "\xF0\x9F\x94\xB4 failed: myproj / nightly-backup") == 0, "%s", e->title);
	CHECK(e->color == 0xE74C3C, "%x", e->color);
	CHECK(strcmp(e->description, "the latest run failed") == 0, "%s", e->description);
	CHECK(strcmp(e->timestamp, "2026-11-30T05:00:00Z") == 0, "%s", e->timestamp);
	CHECK(strcmp(e->footer, "supamon") == 0, "%s", e->footer);
	f = field(e, "schedule");
	CHECK(f && strcmp(f->value, "`*/5 * * * *` (every 5 minutes)") == 0, "%s", f ? f->value : "none");
	f = field(e, "status");
	CHECK(f && strcmp(f->value, "failed (was success)") == 0, "%s", f ? f->value : "none");
	f = field(e, "job");
	CHECK(f && strcmp(f->value, "nightly-backup") == 0 && f->inline_, "job");
	CHECK(field(e, "project") && field(e, "criticality") && field(e, "last run") &&
		  field(e, "next expected") && !field(e, "missed during the outage"), "fields");
	f = field(e, "error");
	CHECK(f && strcmp(f->value, "relation \"foo\" does not exist\n```\nERROR:  relation \"foo\" does not exist\n"
					  "LINE 1: select \\* from foo\n                      ^\n```") != 0, "no Markdown in a block");
	CHECK(f && strcmp(f->value, "relation \"foo\" does not exist\n```\nERROR:  relation \"foo\" does not exist\n"
					  "LINE 1: select * from foo\n                      ^\n```") == 0, "%s", f ? f->value : "none");
	CHECK(ac_check_discord(&m) == NULL, "%s", ac_check_discord(&m));
	at_discord_free(&m);
	CHECK(m.nembeds == 0 && m.content == NULL, "freed");

	/* a project alert; missing parts left out; colours */
	memset(&a, 0, sizeof(a));
	a.project = "myproj";
	a.event = "unreachable";
	a.at = "not a time";
	CHECK(at_discord_message(&a, &m), "oom");
	e = &m.embeds[0];
	CHECK(strcmp(e->title, "\xF0\x9F\x94\xB4 unreachable: myproj") == 0, "%s", e->title);
	CHECK(e->description == NULL && e->timestamp == NULL && e->nfields == 1, "%d fields", e->nfields);
	at_discord_free(&m);
	{
		static const struct
		{
			const char *event;
			int			color;
		}			colors[] = {
			{"failed", 0xE74C3C}, {"stuck", 0xE74C3C}, {"scheduler_down", 0xE74C3C},
			{"missed", 0xF39C12}, {"reminder", 0xF39C12}, {"recovered", 0x2ECC71},
			{"test", 0x3498DB}, {"something", 0x95A5A6}, {NULL, 0x95A5A6}
		};

		for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		{
			a.event = colors[i].event;
			CHECK(at_discord_message(&a, &m) && m.embeds[0].color == colors[i].color,
				  "%s", colors[i].event ? colors[i].event : "NULL");
			at_discord_free(&m);
		}
	}
	a.project = NULL;
	at_discord_message(&a, &m);
	CHECK(strcmp(m.embeds[0].title, "\xE2\x9A\xAA alert: ?") == 0, "%s", m.embeds[0].title);
	at_discord_free(&m);
	a.project = "myproj";
	a.event = "scheduler_down";
	at_discord_message(&a, &m);
	CHECK(strstr(m.embeds[0].title, "scheduler down: myproj"), "%s", m.embeds[0].title);
	at_discord_free(&m);

	/* ISO times Discord takes, and ones it would reject the whole message for */
	{
		static const char *const good[] = {
			"2026-11-30T05:00:00Z", "2026-11-30T05:00:00.123Z", "2024-02-29T23:59:60+05:30",
			"2026-01-01T00:00:00-08:00"
		};
		static const char *const bad[] = {
			"2026-11-30 05:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
			"2026-11-30T24:00:00Z", "2026-11-30T05:00:00", "2026-11-30T05:00:00Zjunk",
			"2026-11-30T05:00:00.Z", "2026-11-30T05:00:00+5:30", "", "2026-02-29T00:00:00Z",
			"1900-02-29T00:00:00Z"
		};

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		{
			a.at = good[i];
			at_discord_message(&a, &m);
			CHECK(m.embeds[0].timestamp && strcmp(m.embeds[0].timestamp, good[i]) == 0, "%s", good[i]);
			at_discord_free(&m);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			a.at = bad[i];
			at_discord_message(&a, &m);
			CHECK(m.embeds[0].timestamp == NULL, "%s", bad[i]);
			at_discord_free(&m);
		}
	}

	/* a recovered project: what it missed while down */
	memset(&a, 0, sizeof(a));
	a.project = "p";
	a.event = "recovered";
	a.during_outage = "nightly: 03:00\nhourly: 04:00";
	at_discord_message(&a, &m);
	f = field(&m.embeds[0], "missed during the outage");
	CHECK(f && strcmp(f->value, "nightly: 03:00\nhourly: 04:00") == 0, "%s", f ? f->value : "none");
	CHECK(m.embeds[0].color == 0x2ECC71, "green");
	at_discord_free(&m);
}

static void
test_discord_hostile(void)
{
	AtDiscordMessage m;
	AlertInfo	a = failed_job;
	const AtField *f;
	char	   *big = repeat("x", 1 << 20);
	char	   *bigerr = repeat("ERROR:  boom ``` @everyone <b>&amp;\n", 30000);

	a.reason = "@everyone <script>&amp; **bold** _i_ `code` |spoiler| [link](http://x) # h > q \\";
	a.error = "ERROR:  bad ```\n```\nDROP TABLE x; ``` @here";
	a.schedule = "`*/5`";
	at_discord_message(&a, &m);
	CHECK(strcmp(m.embeds[0].description,
				 "@" ZWSP "everyone \\<script\\>&amp; \\*\\*bold\\*\\* \\_i\\_ \\`code\\` \\|spoiler\\| "
				 "\\[link\\](http://x) \\# h \\> q \\\\") == 0, "%s", m.embeds[0].description);
	f = field(&m.embeds[0], "error");
	CHECK(f && strcmp(f->value, "bad \\`\\`\\`\n```\nERROR:  bad `" ZWSP "`" ZWSP "`" ZWSP "\n`" ZWSP
					  "`" ZWSP "`" ZWSP "\nDROP TABLE x; `" ZWSP "`" ZWSP "`" ZWSP " @" ZWSP "here\n```") == 0,
		  "%s", f ? f->value : "none");
	f = field(&m.embeds[0], "schedule");
	CHECK(f && strcmp(f->value, "`\xCB\x8B*/5\xCB\x8B` (every 5 minutes)") == 0, "%s", f ? f->value : "none");
	CHECK(ac_check_discord(&m) == NULL, "%s", ac_check_discord(&m));
	at_discord_free(&m);

	/* 1 MB everywhere: every piece cut, the whole within 6000 */
	a.project = a.job = a.event = a.status = a.previous = a.criticality = big;
	a.reason = a.schedule = a.schedule_meaning = a.last_run = big;
	a.next_expected = a.during_outage = a.at = big;
	a.error = bigerr;
	check_all(&a, "1 MB everywhere");
	at_discord_message(&a, &m);
	f = field(&m.embeds[0], "error");
	CHECK(f && strstr(f->value, AT_CUT_MARK "\n```") && ac_u16(f->value) <= 1024, "%s",
		  f ? f->value + strlen(f->value) - 40 : "none");
	CHECK(strstr(m.embeds[0].title, AT_CUT_MARK) != NULL, "%s", m.embeds[0].title);
	at_discord_free(&m);
	{
		char	   *t = at_telegram_text(&a);

		CHECK(strstr(t, AT_CUT_MARK "</pre>") != NULL, "the block cut at its end");
		CHECK(ac_u16(t) > 3900, "the block takes what is left: %zu", ac_u16(t));
		free(t);
	}
	free(big);
	free(bigerr);
}

static void
test_utf8(void)
{
	AlertInfo	a = {0};
	char	   *t;
	AtDiscordMessage m;

	/* lone continuation, overlong, surrogate, > U+10FFFF, truncated at the end */
	a.project = "a\x80" "b\xC0\xAF" "c\xED\xA0\x80" "d\xF4\x90\x80\x80" "e\xE2\x82";
	a.event = "failed";
	a.reason = "x\x01y\rz\r\nw\x7F\xC2\x85" "bidi\xE2\x80\xAE" "evil\xE2\x81\xA6";
	t = at_plain_line(&a);
	CHECK(strcmp(t, "a" FFFD "b" FFFD FFFD "c" FFFD FFFD FFFD "d" FFFD FFFD FFFD FFFD "e" FFFD FFFD
				 " failed: x" FFFD "y z") == 0, "%s", t);
	free(t);
	at_discord_message(&a, &m);
	CHECK(strcmp(m.embeds[0].description, "x" FFFD "y\nz\nw" FFFD FFFD "bidi" FFFD "evil" FFFD) == 0,
		  "%s", m.embeds[0].description);
	at_discord_free(&m);
	check_all(&a, "bad UTF-8");

	/* an emoji at every cut position: never split, always within the limit */
	for (int p = 0; p < 12; p++)
	{
		char	   *pad = repeat("x", (size_t) p);
		char	   *emo = repeat(EMOJI, 3000);
		char	   *s = malloc(strlen(pad) + strlen(emo) + 1);

		strcpy(s, pad);
		strcat(s, emo);
		for (int max = 0; max < 24; max++)
		{
			char	   *sum = at_error_summary(s, max);

			CHECK(ac_check_text(sum, (size_t) max, false) == NULL, "p %d max %d: %s", p, max, sum);
			CHECK(max < (int) sizeof(AT_CUT_MARK) - 1 ? sum[0] == '\0' :
				  strcmp(sum + strlen(sum) - strlen(AT_CUT_MARK), AT_CUT_MARK) == 0,
				  "p %d max %d: %s", p, max, sum);
			free(sum);
		}
		a = failed_job;
		a.project = a.job = a.reason = a.error = a.during_outage = a.schedule = s;
		check_all(&a, "emoji");
		free(pad);
		free(emo);
		free(s);
	}
}

static void
test_telegram(void)
{
	AlertInfo	a = failed_job;
	char	   *t = at_telegram_text(&a);

	CHECK(strcmp(t,
				 "\xF0\x9F\x94\xB4 <b>failed</b>: <b>myproj / nightly-backup</b>\n"
				 "the latest run failed\n"
				 "<b>Status:</b> failed (was success)\n"
				 "<b>Criticality:</b> critical\n"
				 "<b>Schedule:</b> <code>*/5 * * * *</code> (every 5 minutes)\n"
				 "<b>Last run:</b> 2026-11-29 03:00 UTC (failed)\n"
				 "<b>Next expected:</b> 2026-11-29 03:05 UTC\n"
				 "<i>2026-11-30T05:00:00Z</i>\n"
				 "<b>Error:</b> relation \"foo\" does not exist\n"
				 "<pre>ERROR:  relation \"foo\" does not exist\nLINE 1: select * from foo\n"
				 "                      ^</pre>") == 0, "%s", t);
	free(t);

	a.project = "<script>&amp;</script>";
	a.job = NULL;
	a.reason = "a < b && c > d";
	a.error = "<pre></pre> &lt;";
	t = at_telegram_text(&a);
	CHECK(strstr(t, "<b>&lt;script&gt;&amp;amp;&lt;/script&gt;</b>") != NULL, "%s", t);
	CHECK(strstr(t, "\na &lt; b &amp;&amp; c &gt; d\n") != NULL, "%s", t);
	CHECK(strstr(t, "<pre>&lt;pre&gt;&lt;/pre&gt; &amp;lt;</pre>") != NULL, "%s", t);
	CHECK(ac_check_telegram(t) == NULL, "%s", ac_check_telegram(t));
	free(t);

	/* escapes near the cut: never split */
	for (int p = 0; p < 8; p++)
	{
		char	   *pad = repeat("x", (size_t) p);
		char	   *amp = repeat("&<>" EMOJI, 3000);
		char	   *s = malloc(strlen(pad) + strlen(amp) + 1);

		strcpy(s, pad);
		strcat(s, amp);
		a = failed_job;
		a.error = s;
		t = at_telegram_text(&a);
		CHECK(ac_check_telegram(t) == NULL && strstr(t, AT_CUT_MARK "</pre>"), "p %d: %s", p,
			  ac_check_telegram(t));
		free(t);
		free(pad);
		free(amp);
		free(s);
	}
}

static void
test_plain_and_summary(void)
{
	AlertInfo	a = {0};
	char	   *t;
	char	   *big = repeat("y ", 1 << 19);
	static const struct
	{
		const char *raw;
		int			max;
		const char *want;
	}			sums[] = {
		{"ERROR:  relation \"foo\" does not exist\nLINE 1: select * from foo\n     ^\nCONTEXT: x", 200,
		"relation \"foo\" does not exist"},
		{"ERROR:  division by zero\nCONTEXT:  SQL function \"f\"", 200, "division by zero"},
		{"ERROR: one space", 200, "one space"},
		{"\n\n  FATAL:  terminating connection\n", 200, "terminating connection"},
		{"WARNING:  a   b\tc  ", 200, "a b c"},
		{"ERROR:\nCONTEXT: x", 200, "CONTEXT: x"},
		{"ERROR:  ", 200, "ERROR:"},
		{"plain text", 200, "plain text"},
		{"", 200, ""},
		{"  \n\t ", 200, ""},
		{"abcdefghijklmnopqrstuvwxyz", 12, "abc" AT_CUT_MARK},
		{"abcdefghijklmnopqrstuvwxyz", 26, "abcdefghijklmnopqrstuvwxyz"},
		{"abc", 0, ""},
		{"abc", -5, ""}
	};

	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
	{
		t = at_error_summary(sums[i].raw, sums[i].max);
		CHECK(strcmp(t, sums[i].want) == 0, "%s -> %s", sums[i].raw, t);
		free(t);
	}
	t = at_error_summary(NULL, 100);
	CHECK(strcmp(t, "") == 0, "NULL");
	free(t);

	a.project = "myproj";
	a.job = "nightly-backup";
	a.event = "failed";
	a.error = "ERROR:  relation \"x\" does not exist\n";
	t = at_plain_line(&a);
	CHECK(strcmp(t, "myproj/nightly-backup failed: relation \"x\" does not exist") == 0, "%s", t);
	free(t);
	a.job = NULL;
	a.event = "unreachable";
	a.error = NULL;
	a.reason = "connection refused\n\tIs the server running?";
	t = at_plain_line(&a);
	CHECK(strcmp(t, "myproj unreachable: connection refused") == 0, "%s", t);
	free(t);
	a.reason = NULL;
	a.project = "";
	a.event = NULL;
	t = at_plain_line(&a);
	CHECK(strcmp(t, "? alert") == 0, "%s", t);
	free(t);
	a.project = a.job = a.event = a.reason = big;
	t = at_plain_line(&a);
	CHECK(ac_check_text(t, AT_PLAIN_MAX, false) == NULL && ac_u16(t) > 250, "%zu", ac_u16(t));
	free(t);
	free(big);
}

/* n alerts of mixed events, criticalities and sizes. */
static AlertInfo *
mixed(int n)
{
	static const char *const ev[] = {"failed", "missed", "recovered", "stuck", "unreachable",
	"reminder", "test", "scheduler_down"};
	static const char *const crit[] = {"low", "important", "critical", NULL};
	static char names[1000][32];
	AlertInfo  *a = calloc((size_t) n, sizeof(AlertInfo));

	for (int i = 0; i < n; i++)
	{
		snprintf(names[i % 1000], sizeof(names[0]), "job-%d", i);
		a[i] = failed_job;
		a[i].job = names[i % 1000];
		a[i].event = ev[i % 8];
		a[i].criticality = crit[i % 4];
	}
	return a;
}

static void
test_digests(void)
{
	static const int sizes[] = {1, 5, 9, 10, 30, 1000};
	char	   *big = repeat("z" EMOJI, 1 << 18);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
	{
		int			n = sizes[s];
		AlertInfo  *a = mixed(n);
		const AlertInfo **p = malloc(sizeof(*p) * (size_t) n);
		AtDiscordMessage m;
		char	   *t;

		for (int i = 0; i < n; i++)
			p[i] = &a[i];
		check_digests(p, n, "mixed");
		at_discord_digest(p, n, &m);
		CHECK(m.nembeds == (n <= 9 ? n : 10), "%d alerts: %d embeds", n, m.nembeds);
		if (n == 1)
			CHECK(strstr(m.embeds[0].fields[m.embeds[0].nfields - 1].value, "```") != NULL,
				  "one alert keeps its code block");
		if (n > 9)
			CHECK(strstr(m.embeds[9].title, "more alert") != NULL, "%s", m.embeds[9].title);
		if (n == 1000)
			CHECK(strstr(m.embeds[9].description, "... and ") != NULL, "the rest counted");
		at_discord_free(&m);
		t = at_telegram_digest(p, n);
		if (n == 1000)
			CHECK(strstr(t, "... and ") != NULL && ac_u16(t) > 3500, "%zu", ac_u16(t));
		free(t);

		/* the same with 1 MB parts */
		for (int i = 0; i < n; i++)
			a[i].project = a[i].reason = a[i].error = a[i].during_outage = a[i].schedule_meaning =
				a[i].job = big;
		check_digests(p, n, "1 MB");
		free(p);
		free(a);
	}
	free(big);

	/* worst first, then critical before important before low, then input order */
	{
		AlertInfo	a[8];
		const AlertInfo *p[8];
		static const char *const ev[] = {"recovered", "failed", "unreachable", "failed", "missed",
		"test", "reminder", "stuck"};
		static const char *const crit[] = {"low", "low", NULL, "critical", "critical", NULL, NULL,
		"important"};
		static const char *const jobs[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
		static const char *const order = "cdhbegaf";
		AtDiscordMessage m;
		char	   *t;

		for (int i = 0; i < 8; i++)
		{
			memset(&a[i], 0, sizeof(a[i]));
			a[i].project = "p";
			a[i].job = jobs[i];
			a[i].event = ev[i];
			a[i].criticality = crit[i];
			p[i] = &a[i];
		}
		at_discord_digest(p, 8, &m);
		for (int i = 0; i < 8; i++)
		{
			const char *title = m.embeds[i].title;

			CHECK(title[strlen(title) - 1] == order[i], "embed %d: %s", i, title);
		}
		CHECK(strcmp(m.content, "8 alerts: 1 unreachable, 2 failed, 1 stuck, 1 missed, 1 reminder, "
					 "1 recovered, 1 test") == 0, "%s", m.content);
		at_discord_free(&m);
		t = at_telegram_digest(p, 8);
		CHECK(strncmp(t, "<b>8 alerts</b>: 1 unreachable", 30) == 0 &&
			  strstr(t, "<b>p / c</b>: unreachable") < strstr(t, "<b>p / d</b>: failed"), "%s", t);
		free(t);
	}

	/* the counts of the brief */
	{
		AlertInfo	a[30];
		const AlertInfo *p[30];
		AtDiscordMessage m;

		for (int i = 0; i < 30; i++)
		{
			a[i] = failed_job;
			a[i].event = i < 12 ? "failed" : i < 22 ? "missed" : "recovered";
			p[i] = &a[i];
		}
		at_discord_digest(p, 30, &m);
		CHECK(strcmp(m.content, "30 alerts: 12 failed, 10 missed, 8 recovered") == 0, "%s", m.content);
		at_discord_free(&m);
	}

	/* none */
	{
		AtDiscordMessage m;
		char	   *t;

		CHECK(at_discord_digest(NULL, 0, &m) && m.nembeds == 0 && strcmp(m.content, "0 alerts") == 0,
			  "empty digest");
		at_discord_free(&m);
		t = at_telegram_digest(NULL, 0);
		CHECK(strcmp(t, "<b>0 alerts</b>\n") == 0, "%s", t);
		free(t);
	}
}

static void
test_checks(void)
{
	char		err[256];
	char		buf[128];
	static const char *const urls_ok[] = {
		"https://discord.com/api/webhooks/123/abc", "HTTP://example.com", "http://127.0.0.1:8080/x?y=1",
		"https://[::1]:443/hook", "http://localhost", "https://a-b.c.d:65535", "https://h?q"
	};
	static const struct
	{
		const char *url;
		const char *why;
	}			urls_bad[] = {
		{"ftp://h/SECRET", "http"}, {"https://user:SECRET@host/x", "credentials in the URL are not allowed"},
		{"https://SECRET@host", "credentials"}, {"https://host/SE CRET", "whitespace"},
		{"https://host/SECRET#frag", "fragment"}, {"https://ho_st/SECRET", "host"},
		{"https://host:0/SECRET", "port"}, {"https://host:65536/SECRET", "port"},
		{"https://host:/SECRET", "port"}, {"https://host:123456/SECRET", "port"},
		{"https:///SECRET", "host"}, {"https://", "host"}, {"https://host/\x01SECRET", "control"},
		{"https://h\xC3\xB3st/SECRET", "non-ASCII"}, {"https://.host/SECRET", "host"},
		{"https://a..b/SECRET", "host"}, {"https://-a/SECRET", "host"}, {"https://[zz]/SECRET", "host"},
		{"https://[::1/SECRET", "host"}, {"javascript:alert(1)//SECRET", "http"}, {"", "no URL"},
		{NULL, "no URL"}, {"https://host:8x/SECRET", "port"}
	};
	static const char *const discord_ok[] = {
		"https://discord.com/api/webhooks/1234567890/AbC_-x",
		"https://discord.com/api/v10/webhooks/1/t?wait=true", "http://127.0.0.1:9999/api/webhooks/1/tok"
	};
	static const char *const discord_bad[] = {
		"https://discord.com/api/webhooks/abc/SECRET", "https://discord.com/api/webhooks/1/",
		"https://discord.com/api/webhooks/1/SE.CRET", "https://discord.com/api/webhooks/1/SECRET/slack",
		"https://discord.com/webhooks/1/SECRET", "https://discord.com/api/webhooks/123456789012345678901/SECRET",
		"https://discord.com/api/vx/webhooks/1/SECRET", "https://discord.com/", "https://discord.com",
		"https://discord.com?SECRET"
	};
	char	   *long_url = repeat("a", 2100);
	char	   *tok201 = repeat("S", 201);
	char		u[400];

	memcpy(long_url, "https://h/", 10);
	for (size_t i = 0; i < sizeof(urls_ok) / sizeof(urls_ok[0]); i++)
		CHECK(at_check_url(urls_ok[i], err, sizeof(err)), "%s: %s", urls_ok[i], err);
	for (size_t i = 0; i < sizeof(urls_bad) / sizeof(urls_bad[0]); i++)
	{
		strcpy(err, "");
		CHECK(!at_check_url(urls_bad[i].url, err, sizeof(err)) && strstr(err, urls_bad[i].why) &&
			  !strstr(err, "SECRET"), "%s: %s", urls_bad[i].url ? urls_bad[i].url : "NULL", err);
	}
	CHECK(!at_check_url(long_url, err, sizeof(err)) && strstr(err, "2048"), "%s", err);
	long_url[2048] = '\0';
	CHECK(at_check_url(long_url, err, sizeof(err)), "2048 is fine: %s", err);
	CHECK(!at_check_url("ftp://x", err, 8) && strlen(err) == 7, "err cut to its size: %s", err);
	CHECK(!at_check_url("ftp://x", NULL, 0), "no room for a reason");

	for (size_t i = 0; i < sizeof(discord_ok) / sizeof(discord_ok[0]); i++)
		CHECK(at_check_discord_url(discord_ok[i], err, sizeof(err)), "%s: %s", discord_ok[i], err);
	for (size_t i = 0; i < sizeof(discord_bad) / sizeof(discord_bad[0]); i++)
		CHECK(!at_check_discord_url(discord_bad[i], err, sizeof(err)) && !strstr(err, "SECRET") &&
			  !strstr(err, "discord.com"), "%s: %s", discord_bad[i], err);
	snprintf(u, sizeof(u), "https://discord.com/api/webhooks/1/%s", tok201);
	CHECK(!at_check_discord_url(u, err, sizeof(err)), "201-byte token");
	tok201[200] = '\0';
	snprintf(u, sizeof(u), "https://discord.com/api/webhooks/1/%s", tok201);
	CHECK(at_check_discord_url(u, err, sizeof(err)), "200-byte token: %s", err);
	CHECK(!at_check_discord_url("https://u:SECRET@discord.com/api/webhooks/1/t", err, sizeof(err)) &&
		  strstr(err, "credentials"), "%s", err);

	{
		static const char *const tok_ok[] = {
			"123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "1:abcdefghij_-abcdefghij",
			"12345678901234567890:abcdefghijabcdefghij"
		};
		static const char *const tok_bad[] = {
			"123456SECRETSECRETSECRETSECRET", "123456:SECRETSECRETshort", ":SECRETSECRETSECRETSECRET",
			"123456789012345678901:SECRETSECRETSECRETSECRET", "abc:SECRETSECRETSECRETSECRET",
			"123:SECRETSECRETSECRETSECRET ", "123:SECRET.SECRETSECRETSECRET", "bot123:SECRETSECRETSECRETSECRET",
			"", NULL
		};
		char	   *t101 = repeat("S", 105);

		memcpy(t101, "1:", 2);
		for (size_t i = 0; i < sizeof(tok_ok) / sizeof(tok_ok[0]); i++)
			CHECK(at_check_telegram_token(tok_ok[i], err, sizeof(err)), "%s: %s", tok_ok[i], err);
		for (size_t i = 0; i < sizeof(tok_bad) / sizeof(tok_bad[0]); i++)
			CHECK(!at_check_telegram_token(tok_bad[i], err, sizeof(err)) && !strstr(err, "SECRET") &&
				  !strstr(err, "123"), "%s: %s", tok_bad[i] ? tok_bad[i] : "NULL", err);
		t101[103] = '\0';
		CHECK(!at_check_telegram_token(t101, err, sizeof(err)), "101 after the colon");
		t101[102] = '\0';
		CHECK(at_check_telegram_token(t101, err, sizeof(err)), "100 after the colon: %s", err);
		free(t101);
	}
	{
		static const char *const chat_ok[] = {
			"-1001234567890", "12345", "0", "@my_channel", "@abcde", "@a2345678901234567890123456789012",
			"12345678901234567890", "-10"
		};
		static const char *const chat_bad[] = {
			"-0", "-000", "", NULL, "@abcd", "@1abcd", "@a23456789012345678901234567890123", "12a",
			"123456789012345678901", "--1", "+1", "-", "@my-channel", "@", " 1", "1 "
		};

		for (size_t i = 0; i < sizeof(chat_ok) / sizeof(chat_ok[0]); i++)
			CHECK(at_check_chat_id(chat_ok[i], err, sizeof(err)), "%s: %s", chat_ok[i], err);
		for (size_t i = 0; i < sizeof(chat_bad) / sizeof(chat_bad[0]); i++)
			CHECK(!at_check_chat_id(chat_bad[i], err, sizeof(err)) && err[0] != '\0', "%s",
				  chat_bad[i] ? chat_bad[i] : "NULL");
	}
	{
		static const struct
		{
			const char *url;
			const char *want;
		}			masks[] = {
			{"https://discord.com/api/webhooks/1/SECRET", "https://discord.com/****"},
			{"https://x.y:8443", "https://x.y:8443"},
			{"http://h?q=SECRET", "http://h/****"},
			{"HTTPS://[::1]:99/SECRET", "HTTPS://[::1]:99/****"},
			{"https://h/pa th\x01SECRET", "https://h/****"},
			{"https://u:SECRET@h/x", "****"},
			{"SECRET", "****"},
			{"https://h:0/SECRET", "****"},
			{NULL, "****"}
		};

		for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		{
			size_t		n = at_mask_url(masks[i].url, buf, sizeof(buf));

			CHECK(strcmp(buf, masks[i].want) == 0 && n == strlen(masks[i].want), "%s -> %s",
				  masks[i].url ? masks[i].url : "NULL", buf);
		}
		CHECK(at_mask_url("https://discord.com/x", buf, 6) == 24 && strcmp(buf, "https") == 0, "%s", buf);
		CHECK(at_mask_url("https://discord.com/x", NULL, 0) == 24, "length only");
	}
	free(long_url);
	free(tok201);
}

static void
test_scrub(void)
{
	static const char *const secrets[] = {"123:ABCtoken", "", NULL, "s3cr/t"};
	static const struct
	{
		const char *in;
		const char *want;
	}			cases[] = {
		{"POST https://api.telegram.org/bot123:ABCtoken/sendMessage failed",
		"POST https://api.telegram.org/bot****/sendMessage failed"},
		{"url bot123%3AABCtoken and bot123%3aABCtoken", "url bot**** and bot****"},
		{"x s3cr/t y s3cr%2Ft z s3cr%2ft", "x **** y **** z ****"},
		{"123:ABCtoken123:ABCtoken", "********"},
		{"nothing here", "nothing here"},
		{"", ""}
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *t = at_scrub(cases[i].in, secrets, 4);

		CHECK(t && strcmp(t, cases[i].want) == 0, "%s -> %s", cases[i].in, t);
		free(t);
	}
	{
		/* the longest secret wins where two start at the same place */
		static const char *const two[] = {"abc", "abcdef"};
		/* a secret that would split a character is not one there */
		static const char *const cont[] = {"\xA9", "\xC3"};
		char	   *t = at_scrub("xabcdefx abcx", two, 2);

		CHECK(strcmp(t, "x****x ****x") == 0, "%s", t);
		free(t);
		t = at_scrub("caf\xC3\xA9", cont, 2);
		CHECK(strcmp(t, "caf\xC3\xA9") == 0, "%s", t);
		free(t);
		t = at_scrub(NULL, two, 2);
		CHECK(t && strcmp(t, "") == 0, "NULL text");
		free(t);
		t = at_scrub("abc", NULL, 0);
		CHECK(t && strcmp(t, "abc") == 0, "no secrets");
		free(t);
	}
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng % n);
}

/* A random hostile string, or NULL sometimes. */
static char *
hostile(void)
{
	static const char *const bits[] = {
		"```", "`", "@everyone", "@here", "<script>", "&amp;", "&", "<", ">", "<b>", "</pre>",
		EMOJI, "\xE2\x82", "\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x80\xAE",
		"\n", "\r\n", "\r", "\t", "  ", "ERROR:  ", "FATAL: ", "*", "_", "\\", "|", "#", "x", "word",
		"\xC3\xA9", "\xE2\x80\xA8", "\x01", "\x7F", "... [cut]"
	};
	size_t		pieces = rnd(10) == 0 ? rnd(3000) : rnd(40);
	char	   *s = malloc(pieces * 16 + 1);
	size_t		n = 0;

	for (size_t i = 0; i < pieces; i++)
	{
		if (rnd(5) == 0)
		{
			char		c = (char) (1 + rnd(255));

			s[n++] = c;
		}
		else
		{
			const char *b = bits[rnd(sizeof(bits) / sizeof(bits[0]))];

			memcpy(s + n, b, strlen(b));
			n += strlen(b);
		}
	}
	s[n] = '\0';
	return s;
}

static void
random_alert(AlertInfo *a, char **own)
{
	static const char *const ev[] = {"failed", "missed", "recovered", "stuck", "unreachable",
	"reminder", "test", "scheduler_down"};
	const char **f[] = {&a->job, &a->event, &a->status, &a->previous, &a->criticality, &a->reason,
		&a->schedule, &a->schedule_meaning, &a->last_run, &a->error, &a->next_expected,
	&a->during_outage, &a->at};

	memset(a, 0, sizeof(*a));
	own[0] = hostile();
	a->project = own[0];
	for (int i = 0; i < 13; i++)
	{
		own[i + 1] = rnd(4) == 0 ? NULL : hostile();
		*f[i] = own[i + 1];
	}
	if (rnd(2))
		a->event = ev[rnd(8)];
}

static void
test_random(int rounds)
{
	AlertInfo	alerts[40];
	const AlertInfo *p[40];
	char	   *own[40][14];

	for (int r = 0; r < rounds; r++)
	{
		int			n = 1 + (int) rnd(40);
		char	   *t;
		const char *secrets[3];

		for (int i = 0; i < n; i++)
		{
			random_alert(&alerts[i], own[i]);
			p[i] = &alerts[i];
		}
		check_all(&alerts[0], "random");
		if (r % 10 == 0)
			check_digests(p, n, "random");
		t = at_error_summary(alerts[0].error, (int) rnd(300));
		CHECK(ac_check_text(t, 300, false) == NULL, "summary: %s", ac_check_text(t, 300, false));
		free(t);

		/* checks never echo what they were given */
		{
			char		err[200];
			char		masked[64];
			const char *s = alerts[0].project;

			if (!at_check_url(s, err, sizeof(err)))
				CHECK(ac_check_text(err, 200, false) == NULL && (strlen(s) < 4 || !strstr(err, s)), "%s", err);
			at_check_discord_url(s, err, sizeof(err));
			at_check_telegram_token(s, err, sizeof(err));
			at_check_chat_id(s, err, sizeof(err));
			CHECK(at_mask_url(s, masked, sizeof(masked)) < sizeof(masked) || strlen(masked) == 63, "mask");
		}
		secrets[0] = alerts[0].job;
		secrets[1] = alerts[0].reason;
		secrets[2] = "x";
		t = at_scrub(alerts[0].project, secrets, 3);
		CHECK(t && (ac_utf8_valid(alerts[0].project) ? ac_utf8_valid(t) && !strstr(t, "x") : true),
			  "scrub: %s", t);
		free(t);
		for (int i = 0; i < n; i++)
			for (int k = 0; k < 14; k++)
				free(own[i][k]);
	}
}

int
main(int argc, char **argv)
{
	int			rounds = argc > 1 ? atoi(argv[1]) : 3000;

	test_discord_one();
	test_discord_hostile();
	test_utf8();
	test_telegram();
	test_plain_and_summary();
	test_digests();
	test_checks();
	test_scrub();
	test_random(rounds);
	return unit_finish("alert_text");
}
