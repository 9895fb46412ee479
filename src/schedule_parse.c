/*
 * schedule_parse.c
 *		pg_cron's schedule parser, reproduced: what it accepts, what it
 *		rejects, and what it accepts silently.
 *
 * pg_cron parses schedules with Vixie cron's load_entry (entry.c) over an
 * in-memory buffer whose reader returns '\0' at the end, and, from 1.5 on,
 * tries "N seconds" with sscanf(" %u secon%c%c %c") over a lowercased copy.
 * This file walks the text the same way, so that its verdict is pg_cron's,
 * and records why a schedule is rejected and what pg_cron quietly ignores.
 *
 * Decisions where pg_cron's behaviour is a defect rather than a rule (each is
 * documented in the README):
 * - text after the fifth field is ignored by pg_cron; supamon accepts it too
 *   and warns;
 * - a reversed range ("50-3") sets nothing in pg_cron 1.4/1.5, whose loop
 *   runs from the first value up to the last.  pg_cron 1.6 sets a range
 *   without a step (or with step 1) through a macro that works on bytes of
 *   8 values, counted from the field's lowest value: when the two ends lie in
 *   different bytes it sets the first value up to the end of its byte and the
 *   start of the last value's byte up to the last value ("50-3": 50-55 and
 *   0-3), otherwise nothing; with a larger step it sets nothing.  supamon
 *   does the same, version by version, and warns;
 * - @yearly/@annually never fire in pg_cron 1.6 (the month is set to 0, which
 *   is out of range and ignored); in older versions they mean "0 0 1 1 *";
 * - a schedule starting with '#' and no newline makes pg_cron loop forever;
 *   supamon rejects it;
 * - a step larger than the field's maximum (a step of 100 in the minute
 *   field) selects the range's first value in pg_cron 1.4 to 1.6.4 and is
 *   rejected from 1.6.5 on.  A project reports its pg_cron only as "1.6",
 *   so for "1.6" supamon accepts it (first value only) and warns with both
 *   behaviours; a release named in full ("1.6.7") gets its own behaviour.
 *
 * Text from the schedule quoted in a warning or an error is valid UTF-8
 * whatever the input: whole characters, other bytes written as \xNN.
 */
#include "schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* pg_cron's MAX_FILE_BUFFER_LENGTH: longer schedules are rejected. */
#define SM_MAX_SCHEDULE_LEN 1000

/* The reader's "EOF", distinct from every byte and from '\0'. */
#define SM_EOF (-1)

typedef struct Reader
{
	const unsigned char *text;
	size_t		len;
	size_t		pos;
	SmSchedule *out;
	const char *field;			/* field being parsed, for messages */
	char	   *err;
	size_t		errlen;
	bool		failed;
} Reader;

static const char *const month_names[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec", NULL
};

static const char *const dow_names[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", NULL
};

/* How many characters of the input a message quotes. */
#define SM_QUOTED_CHARS 20
/* Room for them: a character is at most 4 bytes, "\xNN" 4, and "...". */
#define SM_QUOTE_LEN (SM_QUOTED_CHARS * 4 + 4)
/* A reversed range's warning says more, so it quotes fewer characters. */
#define SM_RANGE_QUOTED_CHARS 12

static int	get_char(Reader *r);
static void fail(Reader *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static void warn(SmSchedule *s, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static int	get_list(Reader *r, uint64_t *bits, int low, int high,
					 const char *const *names, int ch);
static int	get_range(Reader *r, uint64_t *bits, int low, int high,
					  const char *const *names, int ch);
static int	get_number(Reader *r, int *num, int low,
					   const char *const *names, int ch);
static bool parse_interval(const char *text, size_t len, int *seconds);
static bool parse_cron(Reader *r, SmCronVersion version);
static void check_can_fire(SmSchedule *s);
static bool mentions_seconds(const char *text, size_t len);

/*
 * The next byte, '\0' at the end, as pg_cron's get_char does.
 */
static int
get_char(Reader *r)
{
	if (r->pos >= r->len)
		return '\0';
	return r->text[r->pos++];
}

static bool
is_alnum(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		(ch >= 'A' && ch <= 'Z');
}

static bool
is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' ||
		ch == '\f' || ch == '\r';
}

/*
 * Records the first error; later ones are consequences of it.
 */
static void
fail(Reader *r, const char *fmt,...)
{
	char		msg[SM_TEXT_LEN];
	va_list		ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->errlen > 0)
		snprintf(r->err, r->errlen, "%s field: %s", r->field, msg);
}

/*
 * Records something pg_cron accepts silently.  Every message fits in
 * SM_TEXT_LEN with a quote of SM_QUOTE_LEN bytes, so none is cut inside a
 * character.
 */
static void
warn(SmSchedule *s, const char *fmt,...)
{
	va_list		ap;

	if (s->nwarnings >= SM_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(s->warnings[s->nwarnings++], SM_TEXT_LEN, fmt, ap);
	va_end(ap);
}

/* How long the UTF-8 character at p is, 0 if it is none: see schedule.h. */
size_t
sm_utf8_char_len(const unsigned char *p, size_t n)
{
	size_t		len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* the second byte's range decides overlong forms and surrogates */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
		(p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

/*
 * Quotes the text that starts at 'from' (up to 'to', the next blank or the
 * end, whichever comes first) into buf (SM_QUOTE_LEN bytes), at most
 * max_chars characters of it, for a message.  The input may hold any bytes
 * but a message must be valid UTF-8 (it ends up in jsonb and in errors):
 * whole characters are copied, other bytes and control characters become
 * \xNN, and "..." marks a cut.
 */
static void
quote_span(const Reader *r, size_t from, size_t to, int max_chars, char *buf)
{
	size_t		pos = from;
	size_t		n = 0;
	int			chars = 0;

	while (pos < to && pos < r->len && r->text[pos] != ' ' &&
		   r->text[pos] != '\t' && r->text[pos] != '\n')
	{
		const unsigned char *p = r->text + pos;
		size_t		len = sm_utf8_char_len(p, r->len - pos);

		if (chars == max_chars)
		{
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if (len == 0 || p[0] < 0x20 || p[0] == 0x7f)
		{
			snprintf(buf + n, 5, "\\x%02x", p[0]);
			n += 4;
			pos++;
		}
		else
		{
			memcpy(buf + n, p, len);
			n += len;
			pos += len;
		}
		chars++;
	}
	buf[n] = '\0';
}

/* The token that starts at 'from': up to the next blank or the end. */
static void
quote_token(const Reader *r, size_t from, int max_chars, char *buf)
{
	quote_span(r, from, r->len, max_chars, buf);
}

/*
 * list = range {"," range}, then pg_cron skips whatever non-blank text
 * follows and the blanks after it.
 */
static int
get_list(Reader *r, uint64_t *bits, int low, int high,
		 const char *const *names, int ch)
{
	size_t		junk_start;

	*bits = 0;
	for (;;)
	{
		ch = get_range(r, bits, low, high, names, ch);
		if (ch != ',')
			break;
		ch = get_char(r);
	}
	if (ch == SM_EOF)
		return SM_EOF;

	if (ch != '\t' && ch != ' ' && ch != '\n' && ch != '\0')
	{
		char		junk[SM_QUOTE_LEN];

		/* ch was read by get_char, so it sits just before pos */
		junk_start = r->pos - 1;
		quote_token(r, junk_start, SM_QUOTED_CHARS, junk);
		warn(r->out, "pg_cron ignores \"%s\" at the end of the %s field",
			 junk, r->field);
		while (ch != '\t' && ch != ' ' && ch != '\n' && ch != '\0')
			ch = get_char(r);
	}
	while (ch == '\t' || ch == ' ')
		ch = get_char(r);
	return ch;
}

/*
 * A step larger than the field's maximum: pg_cron up to 1.6.4 takes the
 * range's first value only, 1.6.5 and later reject the schedule (get_range
 * there fails on a step above 'high', in every field; the caller rejects it
 * for SM_PGCRON_1_6_5).  "1.6" may be either, so supamon takes the first
 * value and says what each does.  first is -1 for a reversed range, which
 * no version takes a value of with such a step.
 */
static void
warn_big_step(Reader *r, int step, int first, int high)
{
	static const char *const months[] = {
		"", "January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"
	};
	static const char *const days[] = {
		"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
		"Saturday", "Sunday"
	};
	char		value[24];

	if (first < 0)
	{
		warn(r->out, "step %d is larger than the %s field's maximum %d: pg_cron 1.6.5 and later reject the schedule",
			 step, r->field, high);
		return;
	}
	if (strcmp(r->field, "month") == 0)
		snprintf(value, sizeof(value), "%s", months[first]);
	else if (strcmp(r->field, "day-of-week") == 0)
		snprintf(value, sizeof(value), "%s", days[first]);
	else
		snprintf(value, sizeof(value), "%s %d",
				 strcmp(r->field, "day-of-month") == 0 ? "day" : r->field, first);

	if (r->out->version == SM_PGCRON_1_6)
		warn(r->out, "step %d is larger than the %s field's maximum %d: pg_cron 1.6.0-1.6.4 take %s only, 1.6.5 and later reject the schedule",
			 step, r->field, high, value);
	else
		warn(r->out, "step %d is larger than the %s field's maximum %d: pg_cron takes %s only (1.6.5 and later reject the schedule)",
			 step, r->field, high, value);
}

/*
 * Appends "a" or "a-b" to buf (of size len) after what it holds.
 */
static void
append_span(char *buf, size_t len, int a, int b)
{
	size_t		n = strlen(buf);

	if (a == b)
		snprintf(buf + n, len - n, "%d", a);
	else
		snprintf(buf + n, len - n, "%d-%d", a, b);
}

/*
 * A reversed range num1-num2 (num1 > num2) with step 1, as pg_cron 1.6 sets
 * it: bits are set a byte of 8 values at a time, counted from the field's
 * lowest value, by a loop that only runs forwards.  When both ends lie in one
 * byte nothing is set.  Otherwise num1's byte is set from num1 to its end
 * and num2's byte from its start to num2; values past 'high' at the end of
 * the field's last byte are set too, but no clock time ever tests them.
 * Returns the bits (bit i is value low + i) and describes the values that
 * count in 'values' ("50-55 and 0-3"), or "" when there are none.
 */
static uint64_t
wrapped_range(int num1, int num2, int low, int high, char *values, size_t len)
{
	int			from = num1 - low;
	int			to = num2 - low;
	int			first_end = (from | 7) + low;
	int			second_start = (to & ~7) + low;
	uint64_t	bits = 0;

	values[0] = '\0';
	if (from / 8 == to / 8)
		return 0;
	if (first_end > high)
		first_end = high;
	for (int i = num1; i <= first_end; i++)
		bits |= (uint64_t) 1 << (i - low);
	for (int i = second_start; i <= num2; i++)
		bits |= (uint64_t) 1 << (i - low);
	append_span(values, len, num1, first_end);
	snprintf(values + strlen(values), len - strlen(values), " and ");
	append_span(values, len, second_start, num2);
	return bits;
}

/*
 * range = "*" | number | number "-" number, each with an optional "/" step.
 */
static int
get_range(Reader *r, uint64_t *bits, int low, int high,
		  const char *const *names, int ch)
{
	int			num1,
				num2,
				step;
	size_t		start = r->pos - 1;
	char		tok[SM_QUOTE_LEN];

	if (ch == '*')
	{
		num1 = low;
		num2 = high;
		ch = get_char(r);
	}
	else
	{
		ch = get_number(r, &num1, low, names, ch);
		if (ch == SM_EOF)
			return SM_EOF;
		if (ch != '-')
		{
			if (ch == '/')
			{
				quote_token(r, start, SM_QUOTED_CHARS, tok);
				fail(r, "\"%s\": a step needs a range or * before it", tok);
				return SM_EOF;
			}
			if (num1 < low || num1 > high)
			{
				fail(r, "%d is out of range %d-%d", num1, low, high);
				return SM_EOF;
			}
			*bits |= (uint64_t) 1 << (num1 - low);
			return ch;
		}
		ch = get_char(r);
		ch = get_number(r, &num2, low, names, ch);
		if (ch == SM_EOF)
			return SM_EOF;
	}

	if (ch == '/')
	{
		ch = get_char(r);
		ch = get_number(r, &step, 0, NULL, ch);
		if (ch == SM_EOF)
			return SM_EOF;
		if (step <= 0)
		{
			fail(r, "step %d must be positive", step);
			return SM_EOF;
		}
	}
	else
		step = 1;

	if (num1 < low || num1 > high || num2 < low || num2 > high)
	{
		int			bad = (num1 < low || num1 > high) ? num1 : num2;

		fail(r, "%d is out of range %d-%d", bad, low, high);
		return SM_EOF;
	}

	if (step > high)
	{
		if (r->out->version == SM_PGCRON_1_6_5)
		{
			fail(r, "step %d is larger than the field's maximum %d (pg_cron 1.6.5 and later reject it)",
				 step, high);
			return SM_EOF;
		}
		warn_big_step(r, step, num1 > num2 ? -1 : num1, high);
	}

	if (num1 > num2)
	{
		char		values[32];
		uint64_t	wrapped;
		/* the range's own text: ch was read by get_char, unless at the end */
		size_t		end = ch == '\0' ? r->pos : r->pos - 1;

		quote_span(r, start, end, SM_RANGE_QUOTED_CHARS, tok);
		wrapped = wrapped_range(num1, num2, low, high, values, sizeof(values));
		if (step != 1 || wrapped == 0)
			warn(r->out, "the range \"%s\" runs backwards (%d-%d) and selects nothing",
				 tok, num1, num2);
		else if (r->out->version >= SM_PGCRON_1_6)
		{
			warn(r->out, "the range \"%s\" runs backwards (%d-%d): pg_cron 1.6 selects %s, 1.4 and 1.5 nothing",
				 tok, num1, num2, values);
			*bits |= wrapped;
		}
		else
			warn(r->out, "the range \"%s\" runs backwards (%d-%d): pg_cron 1.4 and 1.5 select nothing (1.6 selects %s)",
				 tok, num1, num2, values);
		return ch;
	}
	for (int i = num1; i <= num2; i += step)
	{
		*bits |= (uint64_t) 1 << (i - low);
		if (i > num2 - step)
			break;				/* no int overflow for huge steps */
	}
	return ch;
}

/*
 * A run of letters and digits: a name from the list (case-insensitive), or
 * digits read as C's atoi reads them (strtol saturating, then truncated to
 * int), which is what pg_cron does.
 */
static int
get_number(Reader *r, int *num, int low, const char *const *names, int ch)
{
	char		temp[SM_MAX_SCHEDULE_LEN];
	int			len = 0;
	bool		all_digits = true;

	while (is_alnum(ch))
	{
		if (len + 1 >= (int) sizeof(temp))
			return SM_EOF;
		temp[len++] = (char) ch;
		if (!(ch >= '0' && ch <= '9'))
			all_digits = false;
		ch = get_char(r);
	}
	temp[len] = '\0';

	if (len == 0)
	{
		char		tok[SM_QUOTE_LEN];

		if (ch == '\0' || ch == '\n')
			fail(r, "missing value");
		else
		{
			/* ch was read by get_char, so it sits just before pos */
			quote_token(r, r->pos - 1, 1, tok);
			fail(r, "unexpected \"%s\"", tok);
		}
		return SM_EOF;
	}

	if (names)
	{
		for (int i = 0; names[i] != NULL; i++)
		{
			if (strcasecmp(names[i], temp) == 0)
			{
				*num = i + low;
				return ch;
			}
		}
	}

	if (all_digits)
	{
		uint64_t	v = 0;

		for (int i = 0; i < len; i++)
		{
			if (v > (uint64_t) (INT64_MAX - 9) / 10)
			{
				v = INT64_MAX;
				break;
			}
			v = v * 10 + (uint64_t) (temp[i] - '0');
		}
		*num = (int) (uint32_t) v;
		return ch;
	}

	if (names)
		fail(r, "\"%.40s\" is neither a number nor a known name", temp);
	else
		fail(r, "\"%.40s\" is not a number", temp);
	return SM_EOF;
}

/*
 * "N second" / "N seconds", exactly as pg_cron 1.5+ reads it with
 * sscanf(lowercase(text), " %u secon%c%c %c").
 */
static bool
parse_interval(const char *text, size_t len, int *seconds)
{
	size_t		i = 0;
	uint64_t	v = 0;
	bool		negative = false;
	bool		overflow = false;
	int			last,
				plural,
				parts;
	const char *word = "secon";

	while (i < len && is_space((unsigned char) text[i]))
		i++;
	if (i < len && (text[i] == '+' || text[i] == '-'))
		negative = text[i++] == '-';
	if (i >= len || !(text[i] >= '0' && text[i] <= '9'))
		return false;
	while (i < len && text[i] >= '0' && text[i] <= '9')
	{
		if (v > (UINT64_MAX - 9) / 10)
			overflow = true;
		else
			v = v * 10 + (uint64_t) (text[i] - '0');
		i++;
	}
	if (overflow)
		v = UINT64_MAX;
	else if (negative)
		v = (uint64_t) 0 - v;
	v = (uint32_t) v;			/* %u stores an unsigned int */

	while (i < len && is_space((unsigned char) text[i]))
		i++;
	for (const char *w = word; *w; w++, i++)
	{
		int			c = i < len ? (unsigned char) text[i] : -1;

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != *w)
			return false;
	}
	if (i >= len)
		return false;
	last = (unsigned char) text[i++];
	if (last >= 'A' && last <= 'Z')
		last += 'a' - 'A';
	parts = 2;
	plural = 0;
	if (i < len)
	{
		plural = (unsigned char) text[i++];
		if (plural >= 'A' && plural <= 'Z')
			plural += 'a' - 'A';
		parts = 3;
		while (i < len && is_space((unsigned char) text[i]))
			i++;
		if (i < len)
			parts = 4;
	}
	if (last != 'd')
		return false;
	if (!(parts == 2 || (parts == 3 && plural == 's')))
		return false;
	if (v < 1 || v > 59)
		return false;
	*seconds = (int) v;
	return true;
}

/*
 * The five fields or an @ shortcut, as entry.c's parse_cron_entry.
 */
static bool
parse_cron(Reader *r, SmCronVersion version)
{
	SmSchedule *s = r->out;
	uint64_t	bits;
	int			ch;

	/* skip_comments: blank lines and lines starting with '#' */
	for (;;)
	{
		size_t		line_start = r->pos;

		ch = get_char(r);
		while (ch == ' ' || ch == '\t')
			ch = get_char(r);
		if (ch != '\n' && ch != '#')
		{
			r->pos = line_start;
			break;
		}
		while (ch != '\n')
		{
			if (ch == '\0' && r->pos >= r->len)
			{
				r->field = "schedule";
				fail(r, "a comment without a newline (pg_cron never returns from it)");
				return false;
			}
			ch = get_char(r);
		}
	}
	ch = get_char(r);
	while (ch == ' ' || ch == '\t')
		ch = get_char(r);

	if (ch == '@')
	{
		char		cmd[32];
		size_t		n = 0;
		size_t		at = r->pos - 1;
		static const char *const shortcuts[] = {
			"@reboot", "@restart", "@yearly", "@annually", "@monthly",
			"@weekly", "@daily", "@midnight", "@hourly", NULL
		};

		while ((ch = get_char(r)) != '\0' && ch != ' ' && ch != '\t' && ch != '\n')
		{
			if (n + 1 < sizeof(cmd))
				cmd[n] = (char) ch;
			n++;
		}
		cmd[n < sizeof(cmd) ? n : sizeof(cmd) - 1] = '\0';
		r->field = "shortcut";
		for (int i = 0; shortcuts[i]; i++)
			if (n < sizeof(cmd) && strcmp(shortcuts[i] + 1, cmd) == 0)
				s->shortcut = shortcuts[i];
		if (s->shortcut == NULL)
		{
			char		quoted[SM_QUOTE_LEN];

			/* a short quote: the list of shortcuts must fit too */
			quote_token(r, at, 12, quoted);
			fail(r, "\"%s\" is not one of @reboot, @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly",
				 quoted);
			return false;
		}
		if (strcmp(s->shortcut, "@reboot") == 0 || strcmp(s->shortcut, "@restart") == 0)
			s->kind = SM_KIND_REBOOT;
		else if (strcmp(s->shortcut, "@yearly") == 0 || strcmp(s->shortcut, "@annually") == 0)
		{
			s->minute = 1;
			s->hour = 1;
			s->dom = 1u << 1;
			s->dow = 0x7f;
			s->flags = SM_DOW_STAR;
			if (version >= SM_PGCRON_1_6)
			{
				s->month = 0;
				warn(s, "%s never fires in pg_cron 1.6 and later (it sets month 0); use \"0 0 1 1 *\"",
					 s->shortcut);
			}
			else
				s->month = 1u << 1;
		}
		else if (strcmp(s->shortcut, "@monthly") == 0)
		{
			s->minute = 1;
			s->hour = 1;
			s->dom = 1u << 1;
			s->month = 0x1ffe;
			s->dow = 0x7f;
			s->flags = SM_DOW_STAR;
		}
		else if (strcmp(s->shortcut, "@weekly") == 0)
		{
			s->minute = 1;
			s->hour = 1;
			s->dom = 0xfffffffe;
			s->month = 0x1ffe;
			s->dow = 1;
			s->flags = SM_DOW_STAR;
		}
		else if (strcmp(s->shortcut, "@daily") == 0 || strcmp(s->shortcut, "@midnight") == 0)
		{
			s->minute = 1;
			s->hour = 1;
			s->dom = 0xfffffffe;
			s->month = 0x1ffe;
			s->dow = 0x7f;
		}
		else
		{
			/* @hourly */
			s->minute = 1;
			s->hour = 0xffffff;
			s->dom = 0xfffffffe;
			s->month = 0x1ffe;
			s->dow = 0x7f;
			s->flags = SM_HR_STAR;
		}
		while (ch == ' ' || ch == '\t')
			ch = get_char(r);
		if (ch != '\0' && ch != '\n')
		{
			char		rest[SM_QUOTE_LEN];

			quote_token(r, r->pos - 1, SM_QUOTED_CHARS, rest);
			warn(s, "pg_cron ignores \"%s\" after the shortcut", rest);
		}
		return true;
	}

	r->field = "minute";
	if (ch == '*')
		s->flags |= SM_MIN_STAR;
	ch = get_list(r, &bits, 0, 59, NULL, ch);
	if (ch == SM_EOF)
		return false;
	s->minute = bits;

	r->field = "hour";
	if (ch == '*')
		s->flags |= SM_HR_STAR;
	ch = get_list(r, &bits, 0, 23, NULL, ch);
	if (ch == SM_EOF)
		return false;
	s->hour = (uint32_t) bits;

	r->field = "day-of-month";
	if (ch == '$' && version >= SM_PGCRON_1_6)
	{
		ch = get_char(r);
		if (ch != ' ' && ch != '\t')
		{
			fail(r, "\"$\" must stand alone");
			return false;
		}
		while (ch == ' ' || ch == '\t')
			ch = get_char(r);
		s->flags |= SM_DOM_LAST;
		s->dom = 0;
	}
	else
	{
		if (ch == '$')
		{
			fail(r, "\"$\" (last day of the month) needs pg_cron 1.6 or later");
			return false;
		}
		if (ch == '*')
			s->flags |= SM_DOM_STAR;
		ch = get_list(r, &bits, 1, 31, NULL, ch);
		if (ch == SM_EOF)
			return false;
		s->dom = (uint32_t) (bits << 1);
	}

	r->field = "month";
	ch = get_list(r, &bits, 1, 12, month_names, ch);
	if (ch == SM_EOF)
		return false;
	s->month = (uint32_t) (bits << 1);

	r->field = "day-of-week";
	if (ch == '*')
		s->flags |= SM_DOW_STAR;
	ch = get_list(r, &bits, 0, 7, dow_names, ch);
	if (ch == SM_EOF)
		return false;
	/* Sunday is 0 and 7 */
	s->dow = (uint32_t) (bits & 0x7f) | (uint32_t) ((bits >> 7) & 1);

	if (ch != '\0' && ch != '\n')
	{
		char		rest[SM_QUOTE_LEN];

		quote_token(r, r->pos - 1, SM_QUOTED_CHARS, rest);
		warn(s, "pg_cron ignores \"%s\" and anything after the fifth field",
			 rest);
	}
	return true;
}

/*
 * Decides whether any clock time can ever match, and why not.
 */
static void
check_can_fire(SmSchedule *s)
{
	int64_t		t;

	s->can_fire = false;
	if (s->kind == SM_KIND_REBOOT)
	{
		snprintf(s->never_reason, SM_TEXT_LEN,
				 "runs once when the server starts, never on the clock");
		return;
	}
	if (s->kind == SM_KIND_INTERVAL)
	{
		s->can_fire = true;
		return;
	}
	if (s->minute == 0)
		snprintf(s->never_reason, SM_TEXT_LEN, "no minute is selected");
	else if (s->hour == 0)
		snprintf(s->never_reason, SM_TEXT_LEN, "no hour is selected");
	else if (s->month == 0)
		snprintf(s->never_reason, SM_TEXT_LEN, "no month is selected");
	else if ((s->flags & (SM_DOM_STAR | SM_DOW_STAR)) && s->dow == 0)
		snprintf(s->never_reason, SM_TEXT_LEN, "no day of the week is selected");
	else if ((s->flags & (SM_DOM_STAR | SM_DOW_STAR)) && s->dom == 0 &&
			 !(s->flags & SM_DOM_LAST))
		snprintf(s->never_reason, SM_TEXT_LEN, "no day of the month is selected");
	else if (s->dow == 0 && s->dom == 0 && !(s->flags & SM_DOM_LAST))
		snprintf(s->never_reason, SM_TEXT_LEN, "no day is selected");
	else
	{
		/* The Gregorian calendar repeats every 400 years. */
		s->can_fire = true;
		if (sm_next(s, 946684800 - 1, &sm_utc, &t) == SM_FOUND &&
			t < 946684800 + (int64_t) 146097 * 86400)
			return;
		s->can_fire = false;
		snprintf(s->never_reason, SM_TEXT_LEN, "no date matches (such as February 30)");
	}
}

/*
 * Whether the text has "second" in it (the text need not end in a NUL).
 */
static bool
mentions_seconds(const char *text, size_t len)
{
	static const char word[] = "second";

	for (size_t i = 0; i + sizeof(word) - 1 <= len; i++)
		if (strncasecmp(text + i, word, sizeof(word) - 1) == 0)
			return true;
	return false;
}

bool
sm_parse(const char *text, size_t len, SmCronVersion version,
		 SmSchedule *out, char *err, size_t errlen)
{
	Reader		r;
	size_t		n;

	memset(out, 0, sizeof(*out));
	out->version = version;
	out->kind = SM_KIND_CRON;
	if (errlen > 0)
		err[0] = '\0';

	/* pg_cron copies the text with strcpy: it ends at the first NUL. */
	n = 0;
	while (n < len && text[n] != '\0')
		n++;
	len = n;

	if (len >= SM_MAX_SCHEDULE_LEN)
	{
		snprintf(err, errlen, "longer than pg_cron's limit of %d characters",
				 SM_MAX_SCHEDULE_LEN - 1);
		return false;
	}

	if (version >= SM_PGCRON_1_5 && parse_interval(text, len, &out->interval_seconds))
	{
		out->kind = SM_KIND_INTERVAL;
		check_can_fire(out);
		return true;
	}

	memset(&r, 0, sizeof(r));
	r.text = (const unsigned char *) text;
	r.len = len;
	r.out = out;
	r.err = err;
	r.errlen = errlen;
	r.field = "minute";
	if (!parse_cron(&r, version))
	{
		int			secs;

		/* A near miss of the interval form deserves its own reason. */
		if (version < SM_PGCRON_1_5 && parse_interval(text, len, &secs))
			snprintf(err, errlen, "interval schedules (\"N seconds\") need pg_cron 1.5 or later");
		else if (mentions_seconds(text, len) && errlen > 0)
			snprintf(err, errlen, "an interval schedule is \"N seconds\" with N from 1 to 59");
		else if (!r.failed && errlen > 0)
			snprintf(err, errlen, "not a schedule pg_cron accepts");
		return false;
	}
	check_can_fire(out);
	return true;
}

/*
 * pg_cron versions supamon knows: "1.N" with N from 0 to 6, as
 * pg_extension.extversion holds them ("1.4-1" among them), or a release
 * number "1.N.M".  1.0 to 1.3 parse schedules as 1.4 does (1.0 to 1.2 also
 * reject @restart, which is not modelled).  Anything else is unknown rather
 * than taken for the newest: a later pg_cron may read schedules differently.
 * A 1.6 release named in full is followed exactly: 1.6.0 to 1.6.4 take the
 * first value of a step larger than the field's maximum, 1.6.5 and later
 * reject it; "1.6" and "1.6-N" (an extension script, not a release) may be
 * either.
 */
bool
sm_parse_version(const char *text, SmCronVersion *version)
{
	const char *p = text;
	int			minor;
	bool		release = false;
	int			patch = 0;

	if (p[0] != '1' || p[1] != '.' || !(p[2] >= '0' && p[2] <= '6'))
		return false;
	minor = p[2] - '0';
	p += 3;
	/* "1.4-1", "1.6.4": a revision or a patch level, digits only */
	if (*p == '-' || *p == '.')
	{
		release = *p == '.';
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
		{
			if (patch < 1000)	/* any larger patch level reads the same */
				patch = patch * 10 + (*p - '0');
			p++;
		}
	}
	if (*p != '\0')
		return false;
	if (minor <= 4)
		*version = SM_PGCRON_1_4;
	else if (minor == 5)
		*version = SM_PGCRON_1_5;
	else if (!release)
		*version = SM_PGCRON_1_6;
	else if (patch <= 4)
		*version = SM_PGCRON_1_6_0;
	else
		*version = SM_PGCRON_1_6_5;
	return true;
}

const char *
sm_version_name(SmCronVersion version)
{
	switch (version)
	{
		case SM_PGCRON_1_4:
			return "pg_cron 1.4";
		case SM_PGCRON_1_5:
			return "pg_cron 1.5";
		case SM_PGCRON_1_6:
			return "pg_cron 1.6";
		case SM_PGCRON_1_6_0:
			return "pg_cron 1.6.0-1.6.4";
		case SM_PGCRON_1_6_5:
			return "pg_cron 1.6.5+";
	}
	return "pg_cron";
}
