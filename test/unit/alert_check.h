/*
 * alert_check.h
 *		The invariants every output of src/alert_text.c keeps, whatever the
 *		input: shared by the unit tests and the fuzzer.  Each check returns
 *		NULL when the output is fine, else what is wrong.
 */
#ifndef SUPAMON_ALERT_CHECK_H
#define SUPAMON_ALERT_CHECK_H

#include "alert_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "utf8_check.h"

/* Whether s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool
ac_utf8_valid(const char *str)
{
	return utf8_valid((const unsigned char *) str, strlen(str));
}

/* UTF-16 code units of valid UTF-8. */
static size_t
ac_u16(const char *s)
{
	size_t		u = 0;

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

/* How many times w occurs in s. */
static int
ac_count(const char *s, const char *w)
{
	int			n = 0;

	while ((s = strstr(s, w)) != NULL)
	{
		n++;
		s += strlen(w);
	}
	return n;
}

/* Valid UTF-8, at most max units, no control bytes but tab and (if lines) newline. */
static const char *
ac_check_text(const char *s, size_t max, bool lines)
{
	if (s == NULL)
		return "NULL";
	if (!ac_utf8_valid(s))
		return "invalid UTF-8";
	if (ac_u16(s) > max)
		return "over its limit";
	for (const char *p = s; *p; p++)
		if (((unsigned char) *p < 0x20 && *p != '\t' && !(lines && *p == '\n')) || *p == 0x7F)
			return "a control character";
	return NULL;
}

/* ac_check_text for a Discord string, which must never ping anyone. */
static const char *
ac_check_discord_text(const char *s, size_t max, bool lines, bool nonempty)
{
	const char *why = ac_check_text(s, max, lines);

	if (why != NULL)
		return why;
	if (nonempty && s[0] == '\0')
		return "an empty string";
	if (strstr(s, "@everyone") || strstr(s, "@here"))
		return "a mention";
	return NULL;
}

static const char *
ac_check_discord(const AtDiscordMessage *m)
{
	size_t		total = 0;
	const char *why;

	if (m->content && (why = ac_check_discord_text(m->content, AT_DISCORD_CONTENT, true, true)))
		return why;
	if (m->nembeds < 0 || m->nembeds > AT_MAX_EMBEDS)
		return "too many embeds";
	for (int i = 0; i < m->nembeds; i++)
	{
		const AtEmbed *e = &m->embeds[i];

		if ((why = ac_check_discord_text(e->title, AT_DISCORD_TITLE, false, true)))
			return why;
		if (strstr(e->title, "```"))
			return "a fence in a title";
		total += ac_u16(e->title);
		if (e->description)
		{
			if ((why = ac_check_discord_text(e->description, AT_DISCORD_DESCRIPTION, true, true)))
				return why;
			if (strstr(e->description, "```"))
				return "a fence in a description";
			total += ac_u16(e->description);
		}
		if (e->footer)
		{
			if ((why = ac_check_discord_text(e->footer, AT_DISCORD_FOOTER, false, true)))
				return why;
			total += ac_u16(e->footer);
		}
		if (e->timestamp && (why = ac_check_text(e->timestamp, 40, false)))
			return why;
		if (e->nfields < 0 || e->nfields > AT_MAX_FIELDS)
			return "too many fields";
		for (int f = 0; f < e->nfields; f++)
		{
			const AtField *fl = &e->fields[f];
			const char *v = fl->value;

			if ((why = ac_check_discord_text(fl->name, AT_DISCORD_FIELD_NAME, false, true)))
				return why;
			if ((why = ac_check_discord_text(v, AT_DISCORD_FIELD_VALUE, true, true)))
				return strcmp(why, "an empty string") == 0 ? "an empty field value" : why;
			/* one code block, closed at the end, or none */
			if (ac_count(v, "```") != 0 &&
				(strcmp(fl->name, "error") != 0 || ac_count(v, "```") != 2 ||
				 strcmp(v + strlen(v) - 4, "\n```") != 0))
				return "a code block that does not hold";
			total += ac_u16(fl->name) + ac_u16(v);
		}
	}
	if (total > AT_DISCORD_TOTAL)
		return "over 6000 in all";
	return NULL;
}

/*
 * Within the limit, every < one of our tags, properly nested, every & an
 * escape.
 */
static const char *
ac_check_telegram(const char *s)
{
	static const char *const tags[] = {"b", "i", "code", "pre"};
	int			stack[16];
	int			depth = 0;
	const char *why = ac_check_text(s, AT_TELEGRAM_MAX, true);

	if (why != NULL)
		return why;
	for (const char *p = s; *p; p++)
	{
		if (*p == '&')
		{
			if (strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) && strncmp(p, "&amp;", 5))
				return "a bare &";
		}
		else if (*p == '>')
			return "a bare >";
		else if (*p == '<')
		{
			bool		close = p[1] == '/';
			const char *name = p + 1 + close;
			int			k;

			for (k = 0; k < 4; k++)
				if (strncmp(name, tags[k], strlen(tags[k])) == 0 && name[strlen(tags[k])] == '>')
					break;
			if (k == 4)
				return "a < that is not our tag";
			if (!close)
			{
				if (depth == 16)
					return "tags nested too deep";
				stack[depth++] = k;
			}
			else if (depth == 0 || stack[--depth] != k)
				return "unbalanced tags";
			p = name + strlen(tags[k]);
		}
	}
	return depth == 0 ? NULL : "an unclosed tag";
}

#endif							/* SUPAMON_ALERT_CHECK_H */
