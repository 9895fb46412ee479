/*
 * json_check.h
 *		A strict JSON checker for tests: the text must be one JSON value in
 *		valid UTF-8 (as PostgreSQL's jsonb_in wants it in a UTF-8 database).
 */
#ifndef SUPAMON_JSON_CHECK_H
#define SUPAMON_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/*
 * Length of the valid UTF-8 character at p (at most n bytes available), or
 * 0: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t
jc_utf8_len(const unsigned char *p, size_t n)
{
	size_t		len;
	unsigned	cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		(len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Whether the whole of text is valid UTF-8. */
static bool
jc_valid_utf8(const char *text)
{
	const unsigned char *p = (const unsigned char *) text;
	size_t		n = strlen(text);

	while (n > 0)
	{
		size_t		len = jc_utf8_len(p, n);

		if (len == 0)
			return false;
		p += len;
		n -= len;
	}
	return true;
}

typedef struct JcParser
{
	const char *p;
	int			depth;
} JcParser;

static bool jc_value(JcParser *j);

static void
jc_space(JcParser *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool
jc_string(JcParser *j)
{
	if (*j->p++ != '"')
		return false;
	for (;;)
	{
		unsigned char c = (unsigned char) *j->p;

		if (c == '"')
		{
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;		/* the end, or a raw control character */
		if (c == '\\')
		{
			j->p++;
			if (*j->p && strchr("\"\\/bfnrt", *j->p))
				j->p++;
			else if (*j->p == 'u')
			{
				j->p++;
				for (int i = 0; i < 4; i++, j->p++)
					if (!((*j->p >= '0' && *j->p <= '9') ||
						  (*j->p >= 'a' && *j->p <= 'f') ||
						  (*j->p >= 'A' && *j->p <= 'F')))
						return false;
			}
			else
				return false;
			continue;
		}
		j->p++;
	}
}

static bool
jc_number(JcParser *j)
{
	const char *start = j->p;

	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return false;
	return j->p > start;
}

static bool
jc_value(JcParser *j)
{
	bool		ok = true;

	if (++j->depth > 32)
		return false;
	jc_space(j);
	if (*j->p == '{' || *j->p == '[')
	{
		char		close = *j->p == '{' ? '}' : ']';
		bool		object = close == '}';

		j->p++;
		jc_space(j);
		if (*j->p == close)
			j->p++;
		else
		{
			for (;;)
			{
				if (object)
				{
					jc_space(j);
					if (!jc_string(j))
						return false;
					jc_space(j);
					if (*j->p++ != ':')
						return false;
				}
				if (!jc_value(j))
					return false;
				jc_space(j);
				if (*j->p == ',')
				{
					j->p++;
					continue;
				}
				if (*j->p++ != close)
					return false;
				break;
			}
		}
	}
	else if (*j->p == '"')
		ok = jc_string(j);
	else if (strncmp(j->p, "true", 4) == 0)
		j->p += 4;
	else if (strncmp(j->p, "false", 5) == 0)
		j->p += 5;
	else if (strncmp(j->p, "null", 4) == 0)
		j->p += 4;
	else
		ok = jc_number(j);
	j->depth--;
	return ok;
}

/* Whether text is exactly one JSON value, in valid UTF-8. */
static bool
json_valid(const char *text)
{
	JcParser	j = {text, 0};

	if (!jc_valid_utf8(text) || !jc_value(&j))
		return false;
	jc_space(&j);
	return *j.p == '\0';
}

#endif
