/*
 * alert_text.c
 *		The texts of alerts for Discord, Telegram and logs, and the checks of
 *		channel settings; the contract is in alert_text.h.  No backend
 *		headers: unit tested and fuzzed outside the server.
 *
 * Every piece of outside text goes through put(), which cleans it to valid
 * UTF-8, escapes it for where it goes and keeps it within a budget of UTF-16
 * units counted on what it writes (escapes included), cutting between
 * characters and escapes, never inside one.  A message is assembled from
 * such pieces and our own ASCII or emoji, each piece with a cap, the caps
 * chosen so that the sum stays within the service's limits; the last piece
 * (an error's full text) gets what is left.  So no limit is met by cutting
 * a finished message, which could break a tag, an escape or a code block.
 */
#include "alert_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK_UNITS (sizeof(AT_CUT_MARK) - 1)	/* ASCII: bytes are units */

/* Room for "\n... and 2147483647 more" at the end of a list. */
#define MORE_UNITS 25

/* The least a digest keeps for its last embed, the list of the rest. */
#define LIST_RESERVE 160

#define FOOTER "supamon"

/* A growing string; after a failed allocation it only remembers that. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} Buf;

static void
buf_add(Buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n + 1)
	{
		size_t		cap = b->cap ? b->cap : 64;
		char	   *d;

		while (cap - b->len < n + 1)
		{
			if (cap > SIZE_MAX / 2)
			{
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (d == NULL)
		{
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The finished string, or NULL (and nothing kept) when memory ran out. */
static char *
buf_finish(Buf *b)
{
	char	   *s;

	if (b->data == NULL)
		buf_add(b, "", 0);
	if (b->oom)
	{
		free(b->data);
		s = NULL;
	}
	else
		s = b->data;
	memset(b, 0, sizeof(*b));
	return s;
}

static char *
dup_str(const char *s)
{
	Buf			b = {0};

	buf_str(&b, s);
	return buf_finish(&b);
}

/* ASCII whitespace: what trims and, on one line, separates words. */
static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

/* Whether s says anything: NULL, empty and blank parts are left out. */
static bool
present(const char *s)
{
	if (s == NULL)
		return false;
	for (; *s; s++)
		if (!is_space((unsigned char) *s))
			return true;
	return false;
}

/*
 * The code point at s (n >= 1 bytes) and its length, or -1 with length 1
 * when s does not start a valid character: one U+FFFD per bad byte.
 */
static int32_t
utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
	unsigned char c = s[0];
	size_t		l;
	int32_t		cp;
	int32_t		min;

	*len = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF)
		l = 2, cp = c & 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0)
		l = 3, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		l = 4, cp = c & 0x07, min = 0x10000;
	else
		return -1;
	if (n < l)
		return -1;
	for (size_t k = 1; k < l; k++)
	{
		if ((s[k] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*len = l;
	return cp;
}

static size_t
utf8_encode(int32_t cp, char *out)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | cp >> 6);
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | cp >> 12);
		out[1] = (char) (0x80 | (cp >> 6 & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | cp >> 18);
	out[1] = (char) (0x80 | (cp >> 12 & 0x3F));
	out[2] = (char) (0x80 | (cp >> 6 & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* UTF-16 units of valid UTF-8: one per character, two past U+FFFF. */
static size_t
utf16_len(const char *s)
{
	size_t		u = 0;

	if (s == NULL)
		return 0;
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c & 0xC0) != 0x80)
			u++;
		if (c >= 0xF0)
			u++;
	}
	return u;
}

/*
 * What a character of outside text becomes: bad bytes, controls other than
 * tab and newline, and the bidirectional overrides and isolates (which can
 * make a name read backwards) become U+FFFD; line separators newlines.
 */
static int32_t
clean_cp(int32_t cp)
{
	if (cp == '\t' || cp == '\n')
		return cp;
	if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
		(cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
		return 0xFFFD;
	if (cp == 0x2028 || cp == 0x2029)
		return '\n';
	return cp;
}

/* How put() shapes a piece. */
enum
{
	SH_LINE = 1,				/* one line: whitespace runs become a space */
	SH_MD = 2,					/* Discord Markdown escaped */
	SH_CODE = 4,				/* inside Discord `inline code` */
	SH_BLOCK = 8,				/* inside a Discord ``` block */
	SH_DISCORD = SH_MD | SH_CODE | SH_BLOCK,	/* mentions defused */
	SH_HTML = 16				/* Telegram HTML */
};

typedef struct Shaper
{
	Buf		   *b;
	size_t		budget;
	size_t		units;
	size_t		cut_len;		/* the longest output the mark still fits after */
	size_t		cut_units;
	bool		over;
} Shaper;

/* Appends one unit of output (a character with its escape) if it fits. */
static void
emit(Shaper *sh, const char *s, size_t n, size_t units)
{
	if (sh->over)
		return;
	if (sh->units + units > sh->budget)
	{
		sh->over = true;
		return;
	}
	buf_add(sh->b, s, n);
	sh->units += units;
	if (sh->units + MARK_UNITS <= sh->budget)
	{
		sh->cut_len = sh->b->len;
		sh->cut_units = sh->units;
	}
}

/* Characters that Discord's Markdown would read as formatting. */
static bool
is_markdown(int32_t cp)
{
	switch (cp)
	{
		case '\\':
		case '*':
		case '_':
		case '~':
		case '`':
		case '|':
		case '[':
		case ']':
		case '<':
		case '>':
		case '#':
			return true;
		default:
			return false;
	}
}

/* Whether [s, s + n) starts with word w, in any case. */
static bool
starts_word(const unsigned char *s, size_t n, const char *w)
{
	size_t		l = strlen(w);

	if (n < l)
		return false;
	for (size_t i = 0; i < l; i++)
	{
		int			c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != w[i])
			return false;
	}
	return true;
}

/* One clean character, escaped for where it goes; rest is what follows it. */
static void
emit_char(Shaper *sh, int32_t cp, unsigned flags, const unsigned char *rest, size_t nrest)
{
	char		u[4];

	if ((flags & SH_HTML) && cp == '<')
		emit(sh, "&lt;", 4, 4);
	else if ((flags & SH_HTML) && cp == '>')
		emit(sh, "&gt;", 4, 4);
	else if ((flags & SH_HTML) && cp == '&')
		emit(sh, "&amp;", 5, 5);
	else if ((flags & SH_MD) && is_markdown(cp))
	{
		u[0] = '\\';
		u[1] = (char) cp;
		emit(sh, u, 2, 2);
	}
	/* a zero-width space after @ keeps Discord from pinging everyone */
	else if ((flags & SH_DISCORD) && cp == '@' &&
			 (starts_word(rest, nrest, "everyone") || starts_word(rest, nrest, "here")))
		emit(sh, "@\xE2\x80\x8B", 4, 2);
	/* a backtick followed by a zero-width space never makes a fence */
	else if ((flags & SH_BLOCK) && cp == '`')
		emit(sh, "`\xE2\x80\x8B", 4, 2);
	else
	{
		/* inline code cannot hold its own delimiter: a look-alike instead */
		if ((flags & SH_CODE) && cp == '`')
			cp = 0x02CB;
		emit(sh, u, utf8_encode(cp, u), cp >= 0x10000 ? 2 : 1);
	}
}

/*
 * Appends n bytes of outside text shaped by flags, at most budget UTF-16
 * units, ending with the cut mark if it did not fit (or with nothing of it
 * when even the mark does not fit).  Leading blank lines (all leading
 * whitespace on one line) and trailing whitespace are dropped.  Returns the
 * units appended.
 */
static size_t
put_n(Buf *b, const char *src, size_t n, unsigned flags, size_t budget)
{
	const unsigned char *s = (const unsigned char *) src;
	Shaper		sh = {b, budget, 0, b->len, 0, false};
	size_t		i = 0;
	bool		space = false;

	while (n > 0 && is_space(s[n - 1]))
		n--;
	for (size_t j = 0; j < n && is_space(s[j]); j++)
		if (s[j] == '\n' || (flags & SH_LINE))
			i = j + 1;

	while (i < n && !sh.over)
	{
		size_t		l;
		int32_t		cp = utf8_decode(s + i, n - i, &l);

		i += l;
		if (cp == '\r')
		{
			if (i < n && s[i] == '\n')
				continue;
			cp = '\n';
		}
		if (flags & SH_LINE)
		{
			if (is_space(cp) || cp == 0x2028 || cp == 0x2029)
			{
				space = true;
				continue;
			}
			if (space)
				emit(&sh, " ", 1, 1);
			space = false;
		}
		emit_char(&sh, clean_cp(cp), flags, s + i, n - i);
	}
	if (!sh.over)
		return sh.units;
	if (b->data != NULL)
	{
		b->len = sh.cut_len;
		b->data[b->len] = '\0';
	}
	if (budget < MARK_UNITS)
		return sh.cut_units;
	buf_str(b, AT_CUT_MARK);
	return sh.cut_units + MARK_UNITS;
}

static size_t
put(Buf *b, const char *s, unsigned flags, size_t budget)
{
	return put_n(b, s, strlen(s), flags, budget);
}

/* A name that must be there (the project): "?" for a blank one. */
static void
put_name(Buf *b, const char *s, unsigned flags, size_t budget)
{
	if (present(s))
		put(b, s, flags | SH_LINE, budget);
	else
		buf_str(b, "?");
}

/*
 * The first line of an error text that says something, without its
 * severity, on one line: a line holding only "ERROR:" says nothing.  Text
 * without such a line is taken whole.
 */
static size_t
put_summary(Buf *b, const char *raw, unsigned flags, size_t budget)
{
	static const char *const severities[] = {"ERROR:", "FATAL:", "PANIC:", "WARNING:"};
	size_t		n = strlen(raw);
	size_t		i = 0;

	while (i < n)
	{
		size_t		e = i;
		size_t		a = i;
		size_t		z;

		while (e < n && raw[e] != '\n')
			e++;
		while (a < e && is_space((unsigned char) raw[a]))
			a++;
		for (size_t k = 0; k < sizeof(severities) / sizeof(severities[0]); k++)
		{
			size_t		l = strlen(severities[k]);

			if (e - a >= l && memcmp(raw + a, severities[k], l) == 0)
			{
				a += l;
				break;
			}
		}
		z = e;
		while (z > a && is_space((unsigned char) raw[z - 1]))
			z--;
		if (z > a)
			return put_n(b, raw + a, z - a, flags | SH_LINE, budget);
		i = e + 1;
	}
	return put_n(b, raw, n, flags | SH_LINE, budget);
}

/* What the short lines of a list say about an alert: its reason, or its error. */
static const char *
short_reason(const AlertInfo *a)
{
	if (present(a->reason))
		return a->reason;
	if (present(a->error))
		return a->error;
	return NULL;
}

#define RED 0xE74C3C
#define AMBER 0xF39C12
#define GREEN 0x2ECC71
#define BLUE 0x3498DB
#define GREY 0x95A5A6

/* The events, worst first: rank orders digests, the table orders the counts. */
typedef struct EventKind
{
	const char *name;
	const char *label;
	int			rank;
	const char *emoji;
	int			color;
} EventKind;

static const EventKind events[] = {
	{"stale", "checks stopped", 0, "\xF0\x9F\x94\xB4", RED},
	{"unreachable", "unreachable", 0, "\xF0\x9F\x94\xB4", RED},
	{"scheduler_down", "scheduler down", 0, "\xF0\x9F\x94\xB4", RED},
	{"paused", "paused by Supabase", 0, "\xF0\x9F\x94\xB4", RED},
	{"api_refused", "Edge Functions unreadable", 1, "\xF0\x9F\x94\xB4", RED},
	{"failed", "failed", 1, "\xF0\x9F\x94\xB4", RED},
	{"stuck", "stuck", 1, "\xF0\x9F\x94\xB4", RED},
	{"missed", "missed", 2, "\xF0\x9F\x9F\xA0", AMBER},
	{"removed", "removed", 2, "\xF0\x9F\x9F\xA0", AMBER},
	{"reminder", "reminder", 3, "\xF0\x9F\x9F\xA0", AMBER},
	{"recovered", "recovered", 4, "\xF0\x9F\x9F\xA2", GREEN},
	{"test", "test", 5, "\xF0\x9F\x94\xB5", BLUE},
	{"summary", "summary", 5, "\xF0\x9F\x94\xB5", BLUE},
	/* an event this module does not know, counted as "other" */
	{"", "other", 6, "\xE2\x9A\xAA", GREY}
};

#define NEVENTS ((int) (sizeof(events) / sizeof(events[0])))
#define OTHER (NEVENTS - 1)

static int
event_index(const char *event)
{
	for (int k = 0; event != NULL && k < OTHER; k++)
		if (strcmp(event, events[k].name) == 0)
			return k;
	return OTHER;
}

/* The event's name; an unknown one as written, cleaned. */
static void
put_event(Buf *b, const AlertInfo *a, unsigned flags)
{
	int			k = event_index(a->event);

	if (k != OTHER)
		buf_str(b, events[k].label);
	else if (present(a->event))
		put(b, a->event, flags | SH_LINE, 32);
	else
		buf_str(b, "alert");
}

/* critical first; a missing or unknown criticality counts as the default, important. */
static int
criticality_rank(const char *c)
{
	if (c != NULL && strcmp(c, "critical") == 0)
		return 0;
	if (c != NULL && strcmp(c, "low") == 0)
		return 2;
	return 1;
}

typedef struct Ranked
{
	int			rank;
	int			crit;
	int			idx;
} Ranked;

static int
cmp_ranked(const void *x, const void *y)
{
	const Ranked *a = x;
	const Ranked *b = y;

	if (a->rank != b->rank)
		return a->rank - b->rank;
	if (a->crit != b->crit)
		return a->crit - b->crit;
	return a->idx - b->idx;
}

/* The alerts worst first (qsort is not stable: the index breaks ties). */
static Ranked *
rank_alerts(const AlertInfo *const *alerts, int n)
{
	Ranked	   *r = malloc(sizeof(Ranked) * (size_t) (n > 0 ? n : 1));

	if (r == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
	{
		r[i].rank = events[event_index(alerts[i]->event)].rank;
		r[i].crit = criticality_rank(alerts[i]->criticality);
		r[i].idx = i;
	}
	qsort(r, (size_t) (n > 0 ? n : 0), sizeof(Ranked), cmp_ranked);
	return r;
}

/* "30 alerts: 12 failed, 10 missed, 8 recovered", the count in bold in HTML. */
static void
put_counts(Buf *b, const AlertInfo *const *alerts, int n, bool html)
{
	int			counts[NEVENTS];
	char		num[48];
	const char *sep = ": ";

	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < n; i++)
		counts[event_index(alerts[i]->event)]++;
	snprintf(num, sizeof(num), "%s%d alert%s%s", html ? "<b>" : "", n,
			 n == 1 ? "" : "s", html ? "</b>" : "");
	buf_str(b, num);
	for (int k = 0; k < NEVENTS; k++)
	{
		if (counts[k] == 0)
			continue;
		snprintf(num, sizeof(num), "%s%d ", sep, counts[k]);
		buf_str(b, num);
		buf_str(b, events[k].label);
		sep = ", ";
	}
}

/* "\n... and N more", or without the newline when nothing came before. */
static void
put_more(Buf *b, int more, bool first)
{
	char		t[MORE_UNITS + 8];

	snprintf(t, sizeof(t), "%s... and %d more", first ? "" : "\n", more);
	buf_str(b, t);
}

/*
 * Whether s is an ISO 8601 time Discord takes, 2026-11-30T05:00:00[.frac]
 * then Z or +hh:mm: one it rejects would lose the whole message.
 */
static bool
iso_time_ok(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			v[6];
	const char *p = s;

	if (s == NULL)
		return false;
	for (int k = 0; k < 6; k++)
	{
		int			w = k == 0 ? 4 : 2;

		v[k] = 0;
		for (int d = 0; d < w; d++, p++)
		{
			if (*p < '0' || *p > '9')
				return false;
			v[k] = v[k] * 10 + (*p - '0');
		}
		if (k < 5 && *p++ != "--T::"[k])
			return false;
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] ||
		v[3] > 23 || v[4] > 59 || v[5] > 60)
		return false;
	if (v[1] == 2 && v[2] == 29 && !(v[0] % 4 == 0 && (v[0] % 100 != 0 || v[0] % 400 == 0)))
		return false;
	if (*p == '.')
	{
		int			d = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
			d++;
		if (d < 1 || d > 9)
			return false;
	}
	if (*p == 'Z')
		return p[1] == '\0';
	if (*p != '+' && *p != '-')
		return false;
	return p[1] >= '0' && p[1] <= '2' && p[2] >= '0' && p[2] <= '9' && p[3] == ':' &&
		p[4] >= '0' && p[4] <= '5' && p[5] >= '0' && p[5] <= '9' && p[6] == '\0';
}

/*
 * The caps of the pieces of one embed.  One alert gets room for everything
 * (at most about 5,400 units in all); digests shrink them, first dropping
 * the error's code block and the fields the title already has, down to a
 * last level of at most about 600 units, so that 9 embeds and the list of
 * the rest always fit AT_DISCORD_TOTAL.
 */
typedef struct Caps
{
	size_t		title_name;		/* project and job in the title */
	size_t		reason;
	size_t		name;			/* the project and job fields, 0: none */
	size_t		status;			/* status and previous, each */
	size_t		schedule;
	size_t		meaning;
	size_t		when;
	size_t		outage;			/* 0: left out */
	size_t		summary;
	bool		block;
} Caps;

static const Caps caps_levels[] = {
	{100, 1500, 256, 40, 200, 300, 200, AT_DISCORD_FIELD_VALUE, 200, true},
	{100, 400, 0, 40, 100, 150, 100, 300, 200, false},
	{60, 150, 0, 30, 60, 80, 60, 100, 100, false},
	{40, 100, 0, 20, 40, 40, 40, 0, 80, false}
};

#define NLEVELS ((int) (sizeof(caps_levels) / sizeof(caps_levels[0])))

static void
embed_free(AtEmbed *e)
{
	free(e->title);
	free(e->description);
	free(e->footer);
	free(e->timestamp);
	for (int i = 0; i < e->nfields; i++)
	{
		free(e->fields[i].name);
		free(e->fields[i].value);
	}
	memset(e, 0, sizeof(*e));
}

/*
 * Adds a field with value v (taken over, even on failure), unless it came
 * out empty (a text of line separators only): Discord rejects those.
 */
static bool
add_field(AtEmbed *e, const char *name, Buf *v, bool inline_)
{
	char	   *value = buf_finish(v);
	char	   *n;

	if (value != NULL && value[0] == '\0')
	{
		free(value);
		return true;
	}
	n = value ? dup_str(name) : NULL;
	if (n == NULL)
	{
		free(value);
		return false;
	}
	e->fields[e->nfields].name = n;
	e->fields[e->nfields].value = value;
	e->fields[e->nfields].inline_ = inline_;
	e->nfields++;
	return true;
}

/* A field holding one shaped piece of text, if there is one. */
static bool
add_text_field(AtEmbed *e, const char *name, const char *s, size_t cap, bool inline_)
{
	Buf			v = {0};

	if (!present(s))
		return true;
	put(&v, s, SH_MD | SH_LINE, cap);
	return add_field(e, name, &v, inline_);
}

/* "🔴 failed: myproj / nightly-backup" */
static char *
discord_title(const AlertInfo *a, size_t cap)
{
	Buf			b = {0};

	buf_str(&b, events[event_index(a->event)].emoji);
	buf_str(&b, " ");
	put_event(&b, a, SH_MD);
	buf_str(&b, ": ");
	put_name(&b, a->project, SH_MD, cap);
	if (present(a->job))
	{
		buf_str(&b, " / ");
		put(&b, a->job, SH_MD | SH_LINE, cap);
	}
	return buf_finish(&b);
}

static bool
build_embed(const AlertInfo *a, const Caps *c, AtEmbed *e)
{
	Buf			v = {0};

	memset(e, 0, sizeof(*e));
	e->color = events[event_index(a->event)].color;
	if ((e->title = discord_title(a, c->title_name)) == NULL)
		goto oom;
	if (present(a->reason))
	{
		put(&v, a->reason, SH_MD, c->reason);
		if ((e->description = buf_finish(&v)) == NULL)
			goto oom;
		if (e->description[0] == '\0')
		{
			free(e->description);
			e->description = NULL;
		}
	}
	if (c->name > 0)
	{
		v = (Buf) {0};
		put_name(&v, a->project, SH_MD, c->name);
		if (!add_field(e, "project", &v, true) ||
			!add_text_field(e, "job", a->job, c->name, true))
			goto oom;
	}
	if (!add_text_field(e, "criticality", a->criticality, 32, true))
		goto oom;
	if (present(a->status))
	{
		put(&v, a->status, SH_MD | SH_LINE, c->status);
		if (present(a->previous))
		{
			buf_str(&v, " (was ");
			put(&v, a->previous, SH_MD | SH_LINE, c->status);
			buf_str(&v, ")");
		}
		if (!add_field(e, "status", &v, true))
			goto oom;
	}
	if (present(a->schedule) || present(a->schedule_meaning))
	{
		if (present(a->schedule))
		{
			buf_str(&v, "`");
			put(&v, a->schedule, SH_CODE | SH_LINE, c->schedule);
			buf_str(&v, present(a->schedule_meaning) ? "` (" : "`");
		}
		if (present(a->schedule_meaning))
		{
			put(&v, a->schedule_meaning, SH_MD | SH_LINE, c->meaning);
			if (present(a->schedule))
				buf_str(&v, ")");
		}
		if (!add_field(e, "schedule", &v, false))
			goto oom;
	}
	if (!add_text_field(e, "last run", a->last_run, c->when, true) ||
		!add_text_field(e, "next expected", a->next_expected, c->when, true))
		goto oom;
	if (present(a->during_outage) && c->outage > 0)
	{
		put(&v, a->during_outage, SH_MD, c->outage);
		if (!add_field(e, "missed during the outage", &v, false))
			goto oom;
	}
	if (present(a->error))
	{
		size_t		used = put_summary(&v, a->error, SH_MD, c->summary);

		if (c->block)
		{
			buf_str(&v, "\n```\n");
			put(&v, a->error, SH_BLOCK, AT_DISCORD_FIELD_VALUE - used - 9);
			buf_str(&v, "\n```");
		}
		if (!add_field(e, "error", &v, false))
			goto oom;
	}
	if ((e->footer = dup_str(FOOTER)) == NULL)
		goto oom;
	if (iso_time_ok(a->at) && (e->timestamp = dup_str(a->at)) == NULL)
		goto oom;
	return true;

oom:
	embed_free(e);
	return false;
}

/* What counts against AT_DISCORD_TOTAL. */
static size_t
embed_units(const AtEmbed *e)
{
	size_t		u = utf16_len(e->title) + utf16_len(e->description) + utf16_len(e->footer);

	for (int i = 0; i < e->nfields; i++)
		u += utf16_len(e->fields[i].name) + utf16_len(e->fields[i].value);
	return u;
}

bool
at_discord_message(const AlertInfo *a, AtDiscordMessage *out)
{
	memset(out, 0, sizeof(*out));
	if (!build_embed(a, &caps_levels[0], &out->embeds[0]))
		return false;
	out->nembeds = 1;
	return true;
}

void
at_discord_free(AtDiscordMessage *m)
{
	free(m->content);
	for (int i = 0; i < m->nembeds; i++)
		embed_free(&m->embeds[i]);
	memset(m, 0, sizeof(*m));
}

/* One line of a list: "🔴 myproj / job: failed: reason" (Markdown or HTML). */
static void
put_list_line(Buf *b, const AlertInfo *a, unsigned flags)
{
	const char *why = short_reason(a);

	buf_str(b, events[event_index(a->event)].emoji);
	buf_str(b, flags & SH_HTML ? " <b>" : " ");
	put_name(b, a->project, flags, 60);
	if (present(a->job))
	{
		buf_str(b, " / ");
		put(b, a->job, flags | SH_LINE, 60);
	}
	buf_str(b, flags & SH_HTML ? "</b>: " : ": ");
	put_event(b, a, flags);
	if (why != NULL)
	{
		buf_str(b, ": ");
		put_summary(b, why, flags, 120);
	}
}

/*
 * Appends to b the lines of the alerts r[from..n), each preceded by a
 * newline but the first when b is empty, as long as b stays within room
 * units, keeping room for "... and N more" when not all fit.
 */
static void
put_list(Buf *b, const AlertInfo *const *alerts, const Ranked *r, int from, int n,
		 unsigned flags, size_t room)
{
	size_t		used = utf16_len(b->data);
	int			i;

	for (i = from; i < n && !b->oom; i++)
	{
		Buf			line = {0};
		size_t		u;

		if (used > 0)
			buf_str(&line, "\n");
		put_list_line(&line, alerts[r[i].idx], flags);
		if (line.oom)
		{
			b->oom = true;
			break;
		}
		u = utf16_len(line.data);
		if (used + u + (i + 1 < n ? MORE_UNITS : 0) > room)
		{
			free(line.data);
			break;
		}
		buf_add(b, line.data, line.len);
		free(line.data);
		used += u;
	}
	if (i < n)
		put_more(b, n - i, used == 0);
}

/* The last embed of a digest: the alerts r[from..n), within room units. */
static bool
build_list_embed(const AlertInfo *const *alerts, const Ranked *r, int from, int n,
				 size_t room, AtEmbed *e)
{
	Buf			b = {0};
	char		title[64];
	size_t		fixed;

	memset(e, 0, sizeof(*e));
	e->color = events[event_index(alerts[r[from].idx]->event)].color;
	snprintf(title, sizeof(title), "%d more alert%s", n - from, n - from == 1 ? "" : "s");
	fixed = strlen(title) + strlen(FOOTER);
	put_list(&b, alerts, r, from, n, SH_MD,
			 room > fixed + AT_DISCORD_DESCRIPTION ? AT_DISCORD_DESCRIPTION :
			 room > fixed ? room - fixed : 0);
	if ((e->description = buf_finish(&b)) == NULL ||
		(e->title = dup_str(title)) == NULL ||
		(e->footer = dup_str(FOOTER)) == NULL)
	{
		embed_free(e);
		return false;
	}
	return true;
}

/*
 * Up to want embeds of the worst alerts at one level of caps, as many as
 * fit AT_DISCORD_TOTAL with LIST_RESERVE kept when alerts remain.
 */
static bool
digest_embeds(const AlertInfo *const *alerts, const Ranked *r, int n, int want,
			  const Caps *c, AtDiscordMessage *out, size_t *used)
{
	*used = 0;
	for (int i = 0; i < want; i++)
	{
		AtEmbed    *e = &out->embeds[out->nembeds];
		size_t		u;

		if (!build_embed(alerts[r[i].idx], c, e))
			return false;
		u = embed_units(e);
		if (*used + u + (i + 1 < n ? LIST_RESERVE : 0) > AT_DISCORD_TOTAL)
		{
			embed_free(e);
			break;
		}
		*used += u;
		out->nembeds++;
	}
	return true;
}

bool
at_discord_digest(const AlertInfo *const *alerts, int n, AtDiscordMessage *out)
{
	Ranked	   *r;
	Buf			b = {0};
	int			want;
	size_t		used = 0;

	memset(out, 0, sizeof(*out));
	if (n < 0)
		n = 0;
	want = n < AT_MAX_EMBEDS - 1 ? n : AT_MAX_EMBEDS - 1;
	if ((r = rank_alerts(alerts, n)) == NULL)
		return false;
	put_counts(&b, alerts, n, false);
	if ((out->content = buf_finish(&b)) == NULL)
		goto oom;
	for (int level = 0; level < NLEVELS; level++)
	{
		for (int i = 0; i < out->nembeds; i++)
			embed_free(&out->embeds[i]);
		out->nembeds = 0;
		if (!digest_embeds(alerts, r, n, want, &caps_levels[level], out, &used))
			goto oom;
		if (out->nembeds == want)
			break;
	}
	if (out->nembeds < n)
	{
		if (!build_list_embed(alerts, r, out->nembeds, n, AT_DISCORD_TOTAL - used,
							  &out->embeds[out->nembeds]))
			goto oom;
		out->nembeds++;
	}
	free(r);
	return true;

oom:
	free(r);
	at_discord_free(out);
	return false;
}

/* "\n<b>label:</b> " */
static void
put_label(Buf *b, const char *label)
{
	buf_str(b, "\n<b>");
	buf_str(b, label);
	buf_str(b, ":</b> ");
}

static void
put_html_line(Buf *b, const char *label, const char *s, size_t cap)
{
	if (!present(s))
		return;
	put_label(b, label);
	put(b, s, SH_HTML | SH_LINE, cap);
}

/*
 * Every piece but the error's <pre> block is capped so that together they
 * take at most about 3,700 units; the block gets what is left.
 */
char *
at_telegram_text(const AlertInfo *a)
{
	Buf			b = {0};

	buf_str(&b, events[event_index(a->event)].emoji);
	buf_str(&b, " <b>");
	put_event(&b, a, SH_HTML);
	buf_str(&b, "</b>: <b>");
	put_name(&b, a->project, SH_HTML, 100);
	if (present(a->job))
	{
		buf_str(&b, " / ");
		put(&b, a->job, SH_HTML | SH_LINE, 100);
	}
	buf_str(&b, "</b>");
	if (present(a->reason))
	{
		buf_str(&b, "\n");
		put(&b, a->reason, SH_HTML, 1000);
	}
	if (present(a->status))
	{
		put_label(&b, "Status");
		put(&b, a->status, SH_HTML | SH_LINE, 40);
		if (present(a->previous))
		{
			buf_str(&b, " (was ");
			put(&b, a->previous, SH_HTML | SH_LINE, 40);
			buf_str(&b, ")");
		}
	}
	put_html_line(&b, "Criticality", a->criticality, 32);
	if (present(a->schedule) || present(a->schedule_meaning))
	{
		put_label(&b, "Schedule");
		if (present(a->schedule))
		{
			buf_str(&b, "<code>");
			put(&b, a->schedule, SH_HTML | SH_LINE, 200);
			buf_str(&b, present(a->schedule_meaning) ? "</code> (" : "</code>");
		}
		if (present(a->schedule_meaning))
		{
			put(&b, a->schedule_meaning, SH_HTML | SH_LINE, 300);
			if (present(a->schedule))
				buf_str(&b, ")");
		}
	}
	put_html_line(&b, "Last run", a->last_run, 200);
	put_html_line(&b, "Next expected", a->next_expected, 200);
	if (present(a->during_outage))
	{
		buf_str(&b, "\n<b>Missed during the outage:</b>\n");
		put(&b, a->during_outage, SH_HTML, 1000);
	}
	if (present(a->at))
	{
		buf_str(&b, "\n<i>");
		put(&b, a->at, SH_HTML | SH_LINE, 40);
		buf_str(&b, "</i>");
	}
	if (present(a->error))
	{
		size_t		used;

		put_label(&b, "Error");
		put_summary(&b, a->error, SH_HTML, 200);
		used = utf16_len(b.data) + strlen("\n<pre></pre>");
		if (used + 40 <= AT_TELEGRAM_MAX)
		{
			buf_str(&b, "\n<pre>");
			put(&b, a->error, SH_HTML, AT_TELEGRAM_MAX - used);
			buf_str(&b, "</pre>");
		}
	}
	return buf_finish(&b);
}

char *
at_telegram_digest(const AlertInfo *const *alerts, int n)
{
	Buf			b = {0};
	Ranked	   *r;

	if (n < 0)
		n = 0;
	if ((r = rank_alerts(alerts, n)) == NULL)
		return NULL;
	put_counts(&b, alerts, n, true);
	buf_str(&b, "\n");
	put_list(&b, alerts, r, 0, n, SH_HTML, AT_TELEGRAM_MAX);
	free(r);
	return buf_finish(&b);
}

char *
at_plain_line(const AlertInfo *a)
{
	Buf			b = {0};
	const char *why = short_reason(a);

	put_name(&b, a->project, 0, 100);
	if (present(a->job))
	{
		buf_str(&b, "/");
		put(&b, a->job, SH_LINE, 100);
	}
	buf_str(&b, " ");
	put_event(&b, a, 0);
	if (why != NULL)
	{
		buf_str(&b, ": ");
		put_summary(&b, why, 0, AT_PLAIN_MAX - utf16_len(b.data));
	}
	return buf_finish(&b);
}

char *
at_error_summary(const char *raw, int maxchars)
{
	Buf			b = {0};

	if (raw != NULL && maxchars > 0)
		put_summary(&b, raw, 0, (size_t) maxchars);
	return buf_finish(&b);
}

static bool
fail(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return false;
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Token bytes of Discord webhooks and Telegram bots. */
static bool
is_token(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

/* The length of the run of bytes of class ok at s. */
static size_t
span(const char *s, bool (*ok) (int))
{
	size_t		n = 0;

	while (s[n] != '\0' && ok((unsigned char) s[n]))
		n++;
	return n;
}

/* Whether s starts with p, ASCII letters in any case. */
static bool
starts_nocase(const char *s, const char *p)
{
	return starts_word((const unsigned char *) s, strlen(s), p);
}

/*
 * Parses scheme://host[:port] at the start of url: NULL and the end of that
 * origin in *end, or why not.  The authority ends at / ? # or the end, so an
 * @ anywhere before that is userinfo.
 */
static const char *
parse_origin(const char *url, size_t *end)
{
	size_t		i;
	size_t		a;
	size_t		e;

	if (starts_nocase(url, "https://"))
		i = 8;
	else if (starts_nocase(url, "http://"))
		i = 7;
	else
		return "the URL must start with http:// or https://";
	for (e = i; url[e] != '\0' && url[e] != '/' && url[e] != '?' && url[e] != '#'; e++)
		if (url[e] == '@')
			return "credentials in the URL are not allowed";
	a = i;
	if (url[a] == '[')
	{
		size_t		colons = 0;

		for (a++; a < e && (is_hex((unsigned char) url[a]) || url[a] == ':' || url[a] == '.'); a++)
			colons += url[a] == ':';
		if (a >= e || url[a] != ']' || colons < 2)
			return "the URL's host is not valid";
		a++;
	}
	else
	{
		size_t		start = a;

		for (; a < e && (is_alpha((unsigned char) url[a]) || is_digit((unsigned char) url[a]) ||
						 url[a] == '-' || url[a] == '.'); a++)
			if (url[a] == '.' && (a == start || url[a - 1] == '.'))
				return "the URL's host is not valid";
		if (a == start || url[start] == '-')
			return "the URL's host is not valid";
	}
	if (a < e && url[a] == ':')
	{
		long		port = 0;
		size_t		digits = 0;

		for (a++; a < e && is_digit((unsigned char) url[a]) && digits < 6; a++, digits++)
			port = port * 10 + (url[a] - '0');
		if (digits == 0 || a != e || port < 1 || port > 65535)
			return "the URL's port must be a number from 1 to 65535";
	}
	if (a != e)
		return "the URL's host is not valid";
	*end = e;
	return NULL;
}

bool
at_check_url(const char *url, char *err, size_t errlen)
{
	const char *why;
	size_t		end;

	if (url == NULL || url[0] == '\0')
		return fail(err, errlen, "no URL given");
	for (size_t i = 0; url[i] != '\0'; i++)
	{
		unsigned char c = (unsigned char) url[i];

		if (i >= 2048)
			return fail(err, errlen, "the URL is longer than 2048 bytes");
		if (c <= 0x20 || c >= 0x7F)
			return fail(err, errlen, "the URL holds whitespace, a control character or a non-ASCII character");
	}
	if (strchr(url, '#') != NULL)
		return fail(err, errlen, "the URL must not have a #fragment");
	if ((why = parse_origin(url, &end)) != NULL)
		return fail(err, errlen, why);
	return true;
}

bool
at_check_discord_url(const char *url, char *err, size_t errlen)
{
	const char *p;
	size_t		end;
	size_t		n;

	if (!at_check_url(url, err, errlen))
		return false;
	parse_origin(url, &end);
	p = url + end;
	if (!starts_nocase(p, "/api/"))
		goto bad;
	p += 5;
	if (*p == 'v' && (n = span(p + 1, is_digit)) > 0 && p[1 + n] == '/')
		p += n + 2;
	if (strncmp(p, "webhooks/", 9) != 0)
		goto bad;
	p += 9;
	n = span(p, is_digit);
	if (n < 1 || n > 20 || p[n] != '/')
		goto bad;
	p += n + 1;
	n = span(p, is_token);
	if (n < 1 || n > 200 || (p[n] != '\0' && p[n] != '?'))
		goto bad;
	return true;

bad:
	return fail(err, errlen, "a Discord webhook URL's path must be /api/webhooks/<id>/<token>");
}

bool
at_check_telegram_token(const char *token, char *err, size_t errlen)
{
	size_t		d;
	size_t		t;

	if (token == NULL || token[0] == '\0')
		return fail(err, errlen, "no Telegram bot token given");
	d = span(token, is_digit);
	t = token[d] == ':' ? span(token + d + 1, is_token) : 0;
	if (d < 1 || d > 20 || token[d] != ':' || t < 20 || t > 100 || token[d + 1 + t] != '\0')
		return fail(err, errlen,
					"a Telegram bot token must be <bot id>:<secret> (1 to 20 digits, then 20 to 100 of A-Z a-z 0-9 _ -)");
	return true;
}

static bool
is_zero(int c)
{
	return c == '0';
}

static bool
is_name_char(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

bool
at_check_chat_id(const char *chat, char *err, size_t errlen)
{
	size_t		n;

	if (chat == NULL || chat[0] == '\0')
		return fail(err, errlen, "no Telegram chat id given");
	if (chat[0] == '@')
	{
		n = span(chat + 1, is_name_char);
		if (!is_alpha((unsigned char) chat[1]) || n < 5 || n > 32 || chat[1 + n] != '\0')
			return fail(err, errlen,
						"a Telegram chat name must be @ then 5 to 32 of A-Z a-z 0-9 _, a letter first");
		return true;
	}
	n = span(chat + (chat[0] == '-'), is_digit);
	if (n < 1 || n > 20 || chat[(chat[0] == '-') + n] != '\0' ||
		(chat[0] == '-' && span(chat + 1, is_zero) == n))
		return fail(err, errlen, "a Telegram chat id must be a number (1 to 20 digits, negative for groups) or @name");
	return true;
}

size_t
at_mask_url(const char *url, char *buf, size_t len)
{
	size_t		end;
	int			n;

	if (url != NULL && parse_origin(url, &end) == NULL && end <= 2048)
		n = snprintf(buf, len, "%.*s%s", (int) end, url, url[end] ? "/****" : "");
	else
		n = snprintf(buf, len, "****");
	return n > 0 ? (size_t) n : 0;
}

/* s %-encoded, every byte but A-Z a-z 0-9 - . _ ~, with hex digits from hex. */
static char *
percent_encode(const char *s, const char *hex)
{
	Buf			b = {0};

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;
		char		e[3] = {'%', hex[c >> 4], hex[c & 15]};

		if (is_token(c) || c == '.' || c == '~')
			buf_add(&b, s, 1);
		else
			buf_add(&b, e, 3);
	}
	return buf_finish(&b);
}

char *
at_scrub(const char *text, const char *const *secrets, int nsecrets)
{
	char	  **pats;
	int			np = 0;
	Buf			b = {0};
	size_t		n;
	size_t		i = 0;
	char	   *result = NULL;

	if (text == NULL)
		text = "";
	if (nsecrets < 0)
		nsecrets = 0;
	n = strlen(text);
	pats = calloc((size_t) nsecrets * 3 + 1, sizeof(char *));
	if (pats == NULL)
		return NULL;
	for (int k = 0; k < nsecrets; k++)
	{
		if (secrets[k] == NULL || secrets[k][0] == '\0')
			continue;
		if ((pats[np++] = dup_str(secrets[k])) == NULL ||
			(pats[np++] = percent_encode(secrets[k], "0123456789ABCDEF")) == NULL ||
			(pats[np++] = percent_encode(secrets[k], "0123456789abcdef")) == NULL)
			goto done;
	}

	/* the longest match at the start of a character and ending before one */
	while (i < n)
	{
		size_t		best = 0;

		if (((unsigned char) text[i] & 0xC0) != 0x80)
		{
			for (int k = 0; k < np; k++)
			{
				size_t		l;

				if (text[i] != pats[k][0])
					continue;
				l = strlen(pats[k]);
				if (l > best && l <= n - i &&
					memcmp(text + i, pats[k], l) == 0 &&
					((unsigned char) text[i + l] & 0xC0) != 0x80)
					best = l;
			}
		}
		if (best > 0)
		{
			buf_str(&b, "****");
			i += best;
		}
		else
			buf_add(&b, text + i++, 1);
	}
	result = buf_finish(&b);

done:
	for (int k = 0; k < np; k++)
		free(pats[k]);
	free(pats);
	return result;
}
