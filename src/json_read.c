/*
 * json_read.c
 *		Reading what a service answers with PostgreSQL's JSON parser.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

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

bool
SupamonJsonParse(const char *body, size_t len, int max_depth, JsonSemAction *sem)
{
	JsonLexContext *lex;

	if (len == 0 || !pg_verify_mbstr(PG_UTF8, body, len, true) ||
		too_deep(body, len, max_depth))
		return false;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *) body, len, PG_UTF8,
									   GetDatabaseEncoding() == PG_UTF8);
#else
	lex = makeJsonLexContextCstringLen((char *) body, len, PG_UTF8,
									   GetDatabaseEncoding() == PG_UTF8);
#endif
	return pg_parse_json(lex, sem) == JSON_SUCCESS;
}
