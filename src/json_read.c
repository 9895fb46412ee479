/*
 * json_read.c
 *		Reading what a service answers with PostgreSQL's JSON parser.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/palloc.h"

#include "json_read.h"

static bool
too_deep(const char *body, size_t len, int max_depth)
{
	int			depth = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = body[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > max_depth)
				return true;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return false;
}

static int
hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
		c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The code unit of a \uXXXX escape at p (p[0] is the backslash), or -1. */
static int
escape_at(const char *p, const char *end)
{
	int			code = 0;

	if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
		return -1;
	for (int k = 2; k < 6; k++)
	{
		int			v = hex_value(p[k]);

		if (v < 0)
			return -1;
		code = code * 16 + v;
	}
	return code;
}

/*
 * A copy of body whose \uXXXX escapes PostgreSQL's lexer can de-escape
 * without refusing the answer or raising an ERROR.  NUL and a lone
 * surrogate read "?".  In a UTF-8 database the rest stay escapes.
 * Elsewhere none may stay: the backend's lexer converts every escape into
 * the database's encoding, which fails where no conversion exists (SQL_ASCII
 * has none); so each becomes its character, written plainly (raw UTF-8
 * bytes, which the lexer takes as they are and the caller cleans), or as a
 * short escape for a quote or a backslash, or "?" for a control character.
 */
static char *
plain_escapes(const char *body, size_t len, bool utf8_database)
{
	StringInfoData out;
	const char *end = body + len;
	bool		in_string = false;

	initStringInfo(&out);
	for (const char *p = body; p < end; p++)
	{
		int			code;
		int			width = 6;
		bool		replaced = false;

		if (!in_string)
		{
			in_string = *p == '"';
			appendStringInfoChar(&out, *p);
			continue;
		}
		if (*p == '"')
			in_string = false;
		if (*p != '\\' || p + 1 >= end)
		{
			appendStringInfoChar(&out, *p);
			continue;
		}
		code = escape_at(p, end);
		if (code < 0)
		{
			/* another escape: copied whole, its second character no quote */
			appendBinaryStringInfo(&out, p, 2);
			p++;
			continue;
		}
		if (code >= 0xD800 && code <= 0xDBFF)
		{
			int			low = escape_at(p + 6, end);

			if (low >= 0xDC00 && low <= 0xDFFF)
			{
				code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
				width = 12;
			}
		}
		if (code == 0 || (code >= 0xD800 && code <= 0xDFFF))
		{
			code = '?';
			replaced = true;
		}
		if (utf8_database)
		{
			if (replaced)
				appendStringInfoString(&out, "\\u003f");
			else
				appendBinaryStringInfo(&out, p, width);
		}
		else if (code < 0x20)
			appendStringInfoChar(&out, '?');
		else if (code == '"' || code == '\\')
		{
			appendStringInfoChar(&out, '\\');
			appendStringInfoChar(&out, (char) code);
		}
		else if (code < 0x80)
			appendStringInfoChar(&out, (char) code);
		else
		{
			unsigned char utf8[5] = {0};

			unicode_to_utf8(code, utf8);
			appendStringInfoString(&out, (char *) utf8);
		}
		p += width - 1;
	}
	return out.data;
}

bool
SupamonJsonParse(const char *body, size_t len, int max_depth, JsonSemAction *sem)
{
	JsonLexContext *lex;
	char	   *plain;

	if (len == 0 || !pg_verify_mbstr(PG_UTF8, body, len, true) ||
		too_deep(body, len, max_depth))
		return false;

	/*
	 * Strings are always de-escaped (the callbacks see field names and
	 * values), with no escape left that could fail the answer or raise an
	 * ERROR (see plain_escapes).
	 */
	plain = plain_escapes(body, len, GetDatabaseEncoding() == PG_UTF8);
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, plain, strlen(plain), PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen(plain, strlen(plain), PG_UTF8, true);
#endif
	return pg_parse_json(lex, sem) == JSON_SUCCESS;
}
