/*
 * schedule_describe.c
 *		A parsed schedule in words and as JSON.
 */
#include "schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* An appender that counts what it could not store, like snprintf. */
typedef struct Out
{
	char	   *buf;
	size_t		cap;
	size_t		len;
} Out;

static void out_printf(Out *o, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
out_printf(Out *o, const char *fmt,...)
{
	va_list		ap;
	size_t		room = o->len < o->cap ? o->cap - o->len : 0;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t) n;
}

static const char *const month_long[] = {
	"", "January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};

static const char *const dow_long[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"
};

static int
count_bits(uint64_t bits)
{
	return __builtin_popcountll(bits);
}

/*
 * The values of a set: "every 5 from 0" for a full arithmetic run, else
 * runs "1-5" and single values, with names where given.
 */
static void
out_set(Out *o, uint64_t bits, int low, int high, const char *const *names,
		const char *joiner)
{
	int			first = -1,
				step = 0,
				n = count_bits(bits);
	bool		progression = n >= 3;
	int			prev = -1;
	bool		sep = false;

	for (int v = low; v <= high; v++)
	{
		if (!((bits >> v) & 1))
			continue;
		if (first < 0)
			first = v;
		else if (step == 0)
			step = v - prev;
		else if (v - prev != step)
			progression = false;
		prev = v;
	}
	if (progression && step >= 2 && prev + step > high)
	{
		out_printf(o, "every %d", step);
		if (first != low)
			out_printf(o, " from %d", first);
		return;
	}

	for (int v = low; v <= high; v++)
	{
		int			end;

		if (!((bits >> v) & 1))
			continue;
		end = v;
		while (end + 1 <= high && ((bits >> (end + 1)) & 1))
			end++;
		if (sep)
			out_printf(o, ", ");
		sep = true;
		if (names)
			out_printf(o, "%s", names[v]);
		else
			out_printf(o, "%d", v);
		if (end >= v + 2)
		{
			if (names)
				out_printf(o, " %s %s", joiner, names[end]);
			else
				out_printf(o, "-%d", end);
			v = end;
		}
	}
}

/*
 * Whether a set is an arithmetic run from its first value to the end of
 * the range, such as "* /5" gives: then *first and *step describe it.
 */
static bool
progression(uint64_t bits, int low, int high, int *first, int *step)
{
	int			prev = -1;

	*first = -1;
	*step = 0;
	if (count_bits(bits) < 2)
		return false;
	for (int v = low; v <= high; v++)
	{
		if (!((bits >> v) & 1))
			continue;
		if (*first < 0)
			*first = v;
		else if (*step == 0)
			*step = v - prev;
		else if (v - prev != *step)
			return false;
		prev = v;
	}
	return *step >= 2 && *first < *step + low && prev + *step > high;
}

static void
describe_hours(const SmSchedule *s, Out *o)
{
	int			first,
				step;

	if (s->hour == 0xffffff)
		return;
	if (progression(s->hour, 0, 23, &first, &step))
	{
		out_printf(o, ", every %d hours", step);
		if (first != 0)
			out_printf(o, " from %02d:00", first);
		return;
	}
	out_printf(o, ", during hour%s ", count_bits(s->hour) > 1 ? "s" : "");
	out_set(o, s->hour, 0, 23, NULL, "");
}

static void
describe_time(const SmSchedule *s, Out *o)
{
	int			nmin = count_bits(s->minute);
	int			nhour = count_bits(s->hour);
	int			first,
				step;

	if (s->minute == (((uint64_t) 1 << 60) - 1))
		out_printf(o, "every minute");
	else if (progression(s->minute, 0, 59, &first, &step))
	{
		out_printf(o, "every %d minutes", step);
		if (first != 0)
			out_printf(o, " from minute %d", first);
	}
	else if (nmin == 1 && nhour <= 4)
	{
		int			m = __builtin_ctzll(s->minute);
		bool		sep = false;

		out_printf(o, "at ");
		for (int h = 0; h < 24; h++)
		{
			if (!((s->hour >> h) & 1))
				continue;
			out_printf(o, "%s%02d:%02d", sep ? ", " : "", h, m);
			sep = true;
		}
		return;
	}
	else
	{
		out_printf(o, "at minute%s ", nmin > 1 ? "s" : "");
		out_set(o, s->minute, 0, 59, NULL, "");
		if (s->hour == 0xffffff)
			out_printf(o, " of every hour");
	}
	describe_hours(s, o);
}

static void
describe_days(const SmSchedule *s, Out *o)
{
	bool		dom_all = (s->flags & SM_DOM_STAR) && s->dom == 0xfffffffe;
	bool		dow_all = (s->flags & SM_DOW_STAR) && s->dow == 0x7f;
	bool		dom_any = !(s->flags & SM_DOM_LAST) && s->dom == 0xfffffffe;
	bool		dow_any = s->dow == 0x7f;
	bool		and_mode = (s->flags & (SM_DOM_STAR | SM_DOW_STAR)) != 0;

	/* every day: both unrestricted, or OR with one side covering all days */
	if ((dom_all || dom_any) && (dow_all || dow_any))
		return;
	if (!and_mode && (dom_any || dow_any))
		return;

	if (and_mode && (dom_all || dom_any))
	{
		out_printf(o, ", on ");
		out_set(o, s->dow, 0, 6, dow_long, "through");
		return;
	}
	if (and_mode && (dow_all || dow_any))
	{
		if (s->flags & SM_DOM_LAST)
			out_printf(o, ", on the last day of the month");
		else
		{
			out_printf(o, ", on day%s ", count_bits(s->dom) > 1 ? "s" : "");
			out_set(o, s->dom, 1, 31, NULL, "");
			out_printf(o, " of the month");
		}
		return;
	}

	if (s->flags & SM_DOM_LAST)
		out_printf(o, ", on the last day of the month");
	else
	{
		out_printf(o, ", on day%s ", count_bits(s->dom) > 1 ? "s" : "");
		out_set(o, s->dom, 1, 31, NULL, "");
		out_printf(o, " of the month");
	}
	out_printf(o, and_mode ? " if it is a " : " or on ");
	out_set(o, s->dow, 0, 6, dow_long, "through");
}

static void
describe(const SmSchedule *s, Out *o)
{
	if (s->kind == SM_KIND_INTERVAL)
	{
		out_printf(o, "every %d second%s, counted from the previous start",
				   s->interval_seconds, s->interval_seconds > 1 ? "s" : "");
		return;
	}
	if (s->kind == SM_KIND_REBOOT)
	{
		out_printf(o, "once when the server starts");
		return;
	}
	if (!s->can_fire)
	{
		out_printf(o, "never (%s)", s->never_reason);
		return;
	}
	describe_time(s, o);
	describe_days(s, o);
	if (s->month != 0x1ffe)
	{
		out_printf(o, ", in ");
		out_set(o, s->month, 1, 12, month_long, "through");
	}
}

void
sm_describe(const SmSchedule *s, char *buf, size_t buflen)
{
	Out			o = {buf, buflen, 0};

	if (buflen > 0)
		buf[0] = '\0';
	describe(s, &o);
}

/*
 * A JSON string.  Messages quote the input as valid UTF-8 already; a byte
 * that is no UTF-8 character would still make jsonb_in fail, so it is written
 * as the text \xNN, as the parser quotes it.
 */
static void
out_json_string(Out *o, const char *str)
{
	const unsigned char *p = (const unsigned char *) str;
	size_t		n = strlen(str);

	out_printf(o, "\"");
	while (n > 0)
	{
		size_t		len = sm_utf8_char_len(p, n);

		if (*p == '"' || *p == '\\')
			out_printf(o, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			out_printf(o, "\\u%04x", *p);
		else if (len == 0)
			out_printf(o, "\\\\x%02x", *p);
		else
		{
			out_printf(o, "%.*s", (int) len, (const char *) p);
			p += len;
			n -= len;
			continue;
		}
		p++;
		n--;
	}
	out_printf(o, "\"");
}

static void
out_json_bits(Out *o, uint64_t bits, int low, int high)
{
	bool		sep = false;

	out_printf(o, "[");
	for (int v = low; v <= high; v++)
	{
		if ((bits >> v) & 1)
		{
			out_printf(o, "%s%d", sep ? "," : "", v);
			sep = true;
		}
	}
	out_printf(o, "]");
}

size_t
sm_to_json(const SmSchedule *s, char *buf, size_t buflen)
{
	Out			o = {buf, buflen, 0};
	char		text[512];
	const char *kind = s->kind == SM_KIND_CRON ? "cron" :
		s->kind == SM_KIND_INTERVAL ? "interval" : "reboot";

	if (buflen > 0)
		buf[0] = '\0';
	out_printf(&o, "{\"kind\": \"%s\", \"pg_cron_version\": \"%s\"", kind,
			   sm_version_name(s->version) + strlen("pg_cron "));
	if (s->shortcut)
	{
		out_printf(&o, ", \"shortcut\": ");
		out_json_string(&o, s->shortcut);
	}
	if (s->kind == SM_KIND_INTERVAL)
		out_printf(&o, ", \"interval_seconds\": %d", s->interval_seconds);
	if (s->kind == SM_KIND_CRON)
	{
		out_printf(&o, ", \"minute\": ");
		out_json_bits(&o, s->minute, 0, 59);
		out_printf(&o, ", \"hour\": ");
		out_json_bits(&o, s->hour, 0, 23);
		out_printf(&o, ", \"day_of_month\": ");
		if (s->flags & SM_DOM_LAST)
			out_printf(&o, "\"last\"");
		else
			out_json_bits(&o, s->dom, 1, 31);
		out_printf(&o, ", \"month\": ");
		out_json_bits(&o, s->month, 1, 12);
		out_printf(&o, ", \"day_of_week\": ");
		out_json_bits(&o, s->dow, 0, 6);
		out_printf(&o, ", \"day_rule\": \"%s\"",
				   (s->flags & (SM_DOM_STAR | SM_DOW_STAR)) ? "and" : "or");
	}
	sm_describe(s, text, sizeof(text));
	out_printf(&o, ", \"description\": ");
	out_json_string(&o, text);
	out_printf(&o, ", \"can_fire\": %s", s->can_fire ? "true" : "false");
	if (!s->can_fire)
	{
		out_printf(&o, ", \"never_fires_reason\": ");
		out_json_string(&o, s->never_reason);
	}
	out_printf(&o, ", \"warnings\": [");
	for (int i = 0; i < s->nwarnings; i++)
	{
		if (i > 0)
			out_printf(&o, ", ");
		out_json_string(&o, s->warnings[i]);
	}
	out_printf(&o, "]}");
	return o.len;
}
