/*
 * json_read.c
 *		Reading what a service answers with PostgreSQL's JSON parser.
 */
#include "postgres.h"

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

/*
 * A copy of body in which every \uXXXX escape PostgreSQL's lexer could
 * refuse, or raise an ERROR for, reads \u003f ("?"), the same length: NUL,
 * a surrogate (half a pair, or a pair: a character beyond the BMP becomes
 * "??"), and, unless keep_non_ascii (a UTF-8 database), anything beyond
 * ASCII.
 */
static char *
plain_escapes(const char *body, size_t len, bool keep_non_ascii)
{
	char	   *copy = palloc(len + 1);
	bool		in_string = false;

	memcpy(copy, body, len);
	copy[len] = '\0';
	for (size_t i = 0; i < len; i++)
	{
		if (!in_string)
		{
			in_string = copy[i] == '"';
			continue;
		}
		if (copy[i] == '"')
			in_string = false;
		else if (copy[i] == '\\' && i + 1 < len)
		{
			if (copy[i + 1] == 'u' && i + 5 < len)
			{
				int			code = 0;
				bool		hex = true;

				for (int k = 2; k < 6; k++)
				{
					int			v = hex_value(copy[i + k]);

					hex &= v >= 0;
					code = code * 16 + (v >= 0 ? v : 0);
				}
				if (hex && (code == 0 || (code >= 0xD800 && code <= 0xDFFF) ||
							(code >= 0x80 && !keep_non_ascii)))
					memcpy(copy + i + 2, "003f", 4);
			}
			i++;				/* the escaped character is no quote */
		}
	}
	return copy;
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
	 * ERROR: in a UTF-8 database those beyond ASCII are kept, elsewhere
	 * they become "?".
	 */
	plain = plain_escapes(body, len, GetDatabaseEncoding() == PG_UTF8);
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, plain, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen(plain, len, PG_UTF8, true);
#endif
	return pg_parse_json(lex, sem) == JSON_SUCCESS;
}
