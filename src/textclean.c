/*
 * textclean.c
 *		Text from outside (a project, libpq, an API) made safe to store: valid
 *		in the database encoding and bounded in characters, cut on a character
 *		boundary with a visible mark.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "redact.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_redact);

/*
 * A palloc'd copy of the first len bytes of s in which every byte that does
 * not start a valid character of the database encoding (a NUL included)
 * becomes '?', keeping at most maxchars characters (0: no limit).  When it
 * cuts, SUPAMON_CUT_MARK follows, so a reader knows there was more; *cut
 * (if not NULL) says whether it did.
 */
char *
SupamonCleanTextLen(const char *s, size_t len, int maxchars, bool *cut)
{
	int			enc = GetDatabaseEncoding();
	int			chars = 0;
	size_t		i = 0;
	size_t		o = 0;
	/* room for what can come out, not more: a snapshot keeps thousands */
	size_t		room = len;
	char	   *out;

	if (maxchars > 0 && (size_t) maxchars * MAX_MULTIBYTE_CHAR_LEN < room)
		room = (size_t) maxchars * MAX_MULTIBYTE_CHAR_LEN;
	out = palloc(room + sizeof(SUPAMON_CUT_MARK));
	while (i < len)
	{
		int			l;

		if (maxchars > 0 && chars >= maxchars)
			break;
		l = s[i] == '\0' ? -1 :
			pg_encoding_verifymbchar(enc, s + i, len - i > INT_MAX ? INT_MAX : (int) (len - i));
		if (l <= 0)
		{
			out[o++] = '?';
			i++;
		}
		else
		{
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
		chars++;
	}
	if (cut)
		*cut = i < len;
	if (i < len)
	{
		memcpy(out + o, SUPAMON_CUT_MARK, sizeof(SUPAMON_CUT_MARK) - 1);
		o += sizeof(SUPAMON_CUT_MARK) - 1;
	}
	out[o] = '\0';
	return out;
}

/* The same for a NUL-terminated string; NULL stays NULL. */
char *
SupamonCleanText(const char *s, int maxchars)
{
	if (s == NULL)
		return NULL;
	return SupamonCleanTextLen(s, strlen(s), maxchars, NULL);
}

/*
 * supamon_redact(text) RETURNS text: the text as supamon stores what comes
 * from a project, with bearer tokens, JWTs, API keys and passwords replaced
 * by "***" (see redact.h for the rules).
 */
Datum
supamon_redact(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	char	   *out = palloc(redact_bound(len));

	len = redact_secrets(VARDATA_ANY(in), len, out);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, (int) len));
}

/*
 * A text that may quote a secret (a command's Authorization header, an error
 * quoting a key) cleaned, capped and redacted: non-owners can read it, and
 * alerts carry it.  Redacted before it is cut, so a secret is seen whole.
 */
char *
SupamonRedacted(const char *raw, int maxchars)
{
	size_t		len;
	char	   *out;
	char	   *clean;

	if (raw == NULL)
		return NULL;
	len = strlen(raw);
	out = palloc(redact_bound(len));
	len = redact_secrets(raw, len, out);
	clean = SupamonCleanTextLen(out, len, maxchars, NULL);
	pfree(out);
	return clean;
}
