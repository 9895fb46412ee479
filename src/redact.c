/*
 * redact.c
 *		Secrets replaced by "***" in text that supamon stores or sends; the
 *		rules are in redact.h.  No backend headers: unit tested and fuzzed
 *		outside the server.
 *
 * One forward scan.  Rules start only at the beginning of a word (or at
 * ://, / and (), look ahead, and either consume what they looked at or leave
 * it to the scan; nothing is scanned more than a fixed number of times, so
 * the time is linear in the input whatever it holds.  Every look-ahead goes
 * through at(), which answers -1 past the end, so no rule can read past
 * len, and a text cut anywhere is just a rule meeting -1.
 *
 * Why the output is a fixed point: a replaced secret always ends at the end
 * of the input or before a byte that is not a word byte, and "***" holds no
 * word byte, quote, separator or @, so the second scan starts the same
 * rules at the same places and finds "***" where the secret was.  The
 * heuristic for Basic and Token refuses any token with a *, so a token left
 * alone the first time (and whose inside another rule redacted) is left
 * alone the second time too; the same holds for the literal concatenated to
 * Basic or Token.  A redacted literal keeps its quotes, and curl's -u keeps
 * its user name, so the rules that found them find them again.
 */
#include "redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct Scan
{
	const unsigned char *in;
	size_t		len;
	char	   *out;
	size_t		o;				/* bytes written so far */
} Scan;

/* What a rule found as a value: [start, keep_to) stays, then the secret. */
typedef struct Value
{
	size_t		keep_to;		/* end of what stays before the secret */
	size_t		secret_to;		/* end of the secret (== keep_to: none) */
	size_t		end;			/* end of the value and its closing quote */
	size_t		scheme_end;		/* end of a bare Bearer/Basic/Token word
								 * that ends the value, else 0 */
} Value;

/* Secret key names, lower case without _ and -, matched as suffixes. */
static const char *const key_words[] = {
	"apikey", "password", "passwd", "passphrase", "pwd", "secret", "token",
	"authorization", "servicerolekey", "privatekey", "accesskey", "secretkey",
	"signature", "credential", "credentials", "cookie", "session"
};

/*
 * Key words that count only as a whole word, after - or _, or as a capital
 * after a small letter (x-hub-sig, basic_auth, hubSig): so config and oauth
 * stay plain words.
 */
static const char *const key_words_bounded[] = {"sig", "auth"};

/* Words that start with these are provider keys, whole. */
static const char *const key_prefixes[] = {
	"sb_secret_", "sbp_", "sk_live_", "sk_test_", "rk_live_", "rk_test_",
	"whsec_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
	"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxe-", "xapp-", "sk-proj-", "sk-ant-",
	"AIza"
};

#define KEY_TAIL_MAX 16			/* longer than the longest key word */

/* The byte at j, or -1 past the end: the only way rules look ahead. */
static inline int
at(const Scan *s, size_t j)
{
	return j < s->len ? s->in[j] : -1;
}

/* ASCII classes, not <ctype.h>: the locale must not change what is secret. */
static inline bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* An ASCII capital. */
static inline bool
is_upper(int c)
{
	return c >= 'A' && c <= 'Z';
}

/* An ASCII small letter. */
static inline bool
is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

/* ASCII lower case, for the words matched in any case. */
static inline int
to_lower(int c)
{
	return is_upper(c) ? c - 'A' + 'a' : c;
}

/* A word byte: base64url, identifiers, the words of keys and tokens. */
static inline bool
is_word(int c)
{
	return is_digit(c) || is_upper(c) || is_lower(c) || c == '_' || c == '-';
}

/* The spaces allowed around separators and after Bearer. */
static inline bool
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Whitespace, which ends values and tokens. */
static inline bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

/* The quotes that open strings or end unquoted values. */
static inline bool
is_quote(int c)
{
	return c == '"' || c == '\'' || c == '`';
}

/*
 * Whether c ends an unquoted value or a token; -1 (the end) does too.  A
 * backslash is the escape of the string around the value, and keeping it
 * keeps that string well-formed; a NUL ends a C string.
 */
static inline bool
ends_value(int c)
{
	switch (c)
	{
		case -1:
		case '\0':
		case '\\':
		case ',':
		case ';':
		case '&':
		case ')':
		case '}':
		case ']':
			return true;
		default:
			return is_space(c) || is_quote(c);
	}
}

/* Whether c ends the authority of a URI (scheme://authority). */
static inline bool
ends_authority(int c)
{
	switch (c)
	{
		case -1:
		case '\0':
		case '/':
		case '?':
		case '#':
		case '\\':
		case '<':
		case '>':
			return true;
		default:
			return is_space(c) || is_quote(c);
	}
}

/* The end of the run of word bytes starting at j. */
static size_t
word_end(const Scan *s, size_t j)
{
	while (is_word(at(s, j)))
		j++;
	return j;
}

/* The first byte at or after j that is not a space or a tab. */
static size_t
skip_blanks(const Scan *s, size_t j)
{
	while (is_blank(at(s, j)))
		j++;
	return j;
}

/* The first byte at or after j that is not whitespace. */
static size_t
skip_spaces(const Scan *s, size_t j)
{
	while (is_space(at(s, j)))
		j++;
	return j;
}

/* The end of an unquoted value or token starting at j. */
static size_t
value_end(const Scan *s, size_t j)
{
	while (!ends_value(at(s, j)))
		j++;
	return j;
}

/* Whether [from, to) is word w, in any case. */
static bool
word_is(const Scan *s, size_t from, size_t to, const char *w)
{
	size_t		n = strlen(w);

	if (to - from != n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (to_lower(s->in[from + k]) != w[k])
			return false;
	return true;
}

/* Whether [from, to) is an HTTP authorization scheme (before a secret). */
static bool
word_is_scheme(const Scan *s, size_t from, size_t to)
{
	return word_is(s, from, to, "bearer") || word_is(s, from, to, "basic") ||
		word_is(s, from, to, "token");
}

/* Copies input bytes [from, to) to the output. */
static void
emit(Scan *s, size_t from, size_t to)
{
	if (to > from)
	{
		memcpy(s->out + s->o, s->in + from, to - from);
		s->o += to - from;
	}
}

/* Writes the mark that stands for a secret. */
static void
emit_mark(Scan *s)
{
	memcpy(s->out + s->o, REDACT_MARK, sizeof(REDACT_MARK) - 1);
	s->o += sizeof(REDACT_MARK) - 1;
}

/* Copies the value starting at start with its secret, if any, replaced. */
static void
emit_value(Scan *s, size_t start, const Value *v)
{
	emit(s, start, v->keep_to);
	if (v->secret_to > v->keep_to)
		emit_mark(s);
	emit(s, v->secret_to, v->end);
}

/*
 * Whether the token after Basic or Token looks like a credential rather
 * than the next word of a sentence.  A * refuses it, so that a token in
 * which another rule put "***" is not redacted the second time only.
 */
static bool
looks_like_credential(const Scan *s, size_t from, size_t to)
{
	bool		signal = false;

	if (to - from < 8)
		return false;
	for (size_t j = from; j < to; j++)
	{
		int			c = s->in[j];

		if (is_digit(c) || c == '+' || c == '/' || c == '=' || c == '_')
			signal = true;
		else if (is_upper(c))
			signal |= j > from;
		else if (!is_lower(c) && c != '.' && c != '~' && c != '-')
			return false;
	}
	return signal;
}

/* Provider keys (sk_live_..., ghp_...): the end of the key, or 0. */
static size_t
match_prefix_key(const Scan *s, size_t i, size_t e)
{
	for (size_t k = 0; k < sizeof(key_prefixes) / sizeof(key_prefixes[0]); k++)
	{
		size_t		n = strlen(key_prefixes[k]);
		size_t		body;
		bool		mixed = false;

		if (e - i <= n || memcmp(s->in + i, key_prefixes[k], n) != 0)
			continue;
		body = e - i - n;
		for (size_t j = i + n; j < e && !mixed; j++)
			mixed = is_digit(s->in[j]) || is_upper(s->in[j]);
		/* a random key of 8 or more bytes has a digit or a capital */
		if (e == s->len || body >= 20 || (body >= 8 && mixed))
			return e;
		return 0;
	}
	return 0;
}

/*
 * A JWT starting with the word [i, e): the end of header.payload[.sig], or
 * of whatever is there when the input ends inside it; 0 if not one.
 */
static size_t
match_jwt(const Scan *s, size_t i, size_t e)
{
	size_t		e2;

	if (e - i < 3 || memcmp(s->in + i, "eyJ", 3) != 0)
		return 0;
	if (e == s->len)
		return e;
	if (at(s, e) != '.')
		return 0;
	if (e + 1 == s->len)
		return s->len;
	if (!is_word(at(s, e + 1)))
		return 0;
	e2 = word_end(s, e + 1);
	if (at(s, e2) != '.')
		return e2;
	/* an empty signature (alg none) keeps its dot inside the JWT */
	return word_end(s, e2 + 1);
}

/* A Telegram bot token ([bot]digits:secret): its end, or 0; *from: start. */
static size_t
match_telegram(const Scan *s, size_t i, size_t e, size_t *from)
{
	size_t		j = i;
	size_t		te;

	if (e - i > 3 && memcmp(s->in + i, "bot", 3) == 0)
		j = i + 3;
	if (e - j < 5 || e - j > 15 || at(s, e) != ':')
		return 0;
	for (size_t k = j; k < e; k++)
		if (!is_digit(s->in[k]))
			return 0;
	te = word_end(s, e + 1);
	if (te - (e + 1) < 30)
		return 0;
	*from = j;
	return te;
}

/*
 * The secrets recognized by their shape alone, starting at the word
 * [i, e): the end of the secret, or 0; *from is where it starts.
 */
static size_t
match_shape(const Scan *s, size_t i, size_t e, size_t *from)
{
	size_t		end;

	*from = i;
	if ((end = match_prefix_key(s, i, e)) != 0 ||
		(end = match_jwt(s, i, e)) != 0)
		return end;
	return match_telegram(s, i, e, from);
}

/* Whether the word [i, e) ends with a secret key word (ignoring _ and -). */
static bool
key_names_secret(const Scan *s, size_t i, size_t e)
{
	char		tail[KEY_TAIL_MAX];	/* the word's last letters, reversed */
	size_t		n = 0;
	size_t		w = e;

	/* a trailing number names a variant: X-Hub-Signature-256, password2 */
	while (w > i && is_digit(s->in[w - 1]))
		w--;
	while (w > i && (s->in[w - 1] == '_' || s->in[w - 1] == '-'))
		w--;
	if (w == i)
		w = e;
	for (size_t k = 0; k < sizeof(key_words_bounded) / sizeof(key_words_bounded[0]); k++)
	{
		size_t		wl = strlen(key_words_bounded[k]);
		size_t		f = w - wl;

		if (w - i >= wl && word_is(s, f, w, key_words_bounded[k]) &&
			(f == i || s->in[f - 1] == '_' || s->in[f - 1] == '-' ||
			 (is_upper(s->in[f]) && is_lower(s->in[f - 1]))))
			return true;
	}
	for (size_t j = w; j > i && n < KEY_TAIL_MAX;)
	{
		int			c = s->in[--j];

		if (c != '_' && c != '-')
			tail[n++] = (char) to_lower(c);
	}
	for (size_t k = 0; k < sizeof(key_words) / sizeof(key_words[0]); k++)
	{
		size_t		wl = strlen(key_words[k]);
		size_t		m = 0;

		while (m < wl && m < n && tail[m] == key_words[k][wl - 1 - m])
			m++;
		if (m == wl)
			return true;
	}
	return false;
}

/*
 * The end of a format() placeholder at p (%s, %I, %L, %1$s), or p: after
 * Bearer it stands for the token, which is the argument, not itself.
 */
static size_t
placeholder_end(const Scan *s, size_t p)
{
	size_t		j = p + 1;
	int			c;

	if (at(s, p) != '%')
		return p;
	while (is_digit(at(s, j)))
		j++;
	if (j > p + 1 && at(s, j++) != '$')
		return p;
	c = at(s, j);
	return c == 's' || c == 'I' || c == 'L' ? j + 1 : p;
}

/*
 * After the opener and up to the closer of a quoted value, [b, be): what of
 * it is kept and what is secret.  "Bearer xyz" keeps its word; a bare
 * "Bearer " or "Bearer %s" has nothing secret, and notes where the word
 * ends, for the literal concatenated to it.
 */
static void
split_body(const Scan *s, size_t b, size_t be, size_t ce, Value *v)
{
	size_t		r = word_end(s, b);

	v->end = ce;
	v->keep_to = b;
	v->secret_to = be;
	v->scheme_end = 0;
	if (be == b)
		v->keep_to = v->secret_to = ce;
	else if (word_is_scheme(s, b, r))
	{
		size_t		p = skip_blanks(s, r);

		/* the body ends at a quote, a backslash or the end: r, p <= be */
		if (p >= be || (p > r && placeholder_end(s, p) == be))
		{
			v->keep_to = v->secret_to = ce;
			v->scheme_end = r;
		}
		else if (p > r)
			v->keep_to = p;
	}
}

/* The number of ' in a row at j. */
static size_t
quote_run(const Scan *s, size_t j)
{
	size_t		k = j;

	while (at(s, k) == '\'')
		k++;
	return k - j;
}

/*
 * A quoted value at v: false if there is no opening quote.  "..." and '...'
 * (a backslash escapes the next byte, '' is a quote inside '...'),
 * \"...\" and \'...\' (JSON inside a string), and n > 1 quotes then a
 * value byte: a literal inside an SQL literal (''...'' one level down,
 * ''''...'''' two), which ends at n quotes, 2n being a quote inside it.  A
 * value cut by the end of the input runs to the end.
 */
static bool
parse_quoted(const Scan *s, size_t v, Value *val)
{
	int			c = at(s, v);
	size_t		n = quote_run(s, v);
	int			q;
	size_t		b;
	size_t		j;

	if (n > 1 && !ends_value(at(s, v + n)))
	{
		for (j = v + n;; j++)
		{
			size_t		m;

			if (at(s, j) < 0)
			{
				split_body(s, v + n, j, j, val);
				return true;
			}
			if (at(s, j) != '\'')
				continue;
			m = quote_run(s, j);
			if (m == 2 * n)
			{
				j += m - 1;
				continue;
			}
			/* fewer quotes end the literal around this one */
			split_body(s, v + n, j, m < n ? j : j + n, val);
			return true;
		}
	}

	if (c == '\\' && (at(s, v + 1) == '"' || at(s, v + 1) == '\''))
	{
		/* a bare quote is the end of the string around this one */
		q = at(s, v + 1);
		for (j = v + 2;; j++)
		{
			c = at(s, j);
			if (c < 0 || c == q || (c == '\\' && at(s, j + 1) == q))
			{
				split_body(s, v + 2, j, c < 0 || c == q ? j : j + 2, val);
				return true;
			}
		}
	}

	if (c != '"' && c != '\'')
		return false;
	q = c;
	b = v + 1;
	for (j = b;; j++)
	{
		c = at(s, j);
		if (c < 0)
		{
			split_body(s, b, j, j, val);
			return true;
		}
		if (c == '\\')
		{
			if (j + 1 >= s->len)
			{
				split_body(s, b, s->len, s->len, val);
				return true;
			}
			j++;
		}
		else if (c == q && q == '\'' && j > b && at(s, j + 1) == '\'')
			j++;
		else if (c == q)
		{
			split_body(s, b, j, j + 1, val);
			return true;
		}
	}
}

/* The value of a key at v, quoted or not (see redact.h). */
static void
parse_value(const Scan *s, size_t v, Value *val)
{
	int			c = at(s, v);
	size_t		ve;
	size_t		r;

	if (parse_quoted(s, v, val))
		return;
	val->scheme_end = 0;
	val->keep_to = val->secret_to = val->end = v;
	/* an object, array or call: its own keys are scanned */
	if (c == '{' || c == '[' || c == '(')
		return;
	ve = value_end(s, v);
	r = word_end(s, v);
	val->keep_to = val->secret_to = val->end = ve;
	if (ve == v || word_is(s, v, ve, "null") || word_is(s, v, ve, "true") ||
		word_is(s, v, ve, "false"))
		return;
	if (word_is_scheme(s, v, r) && r == ve)
	{
		/* Bearer then blanks then a token; Bearer alone hides nothing */
		size_t		p = skip_blanks(s, r);
		size_t		te = value_end(s, p);

		if (te == p || (p > r && placeholder_end(s, p) == te))
		{
			val->scheme_end = r;
			return;
		}
		val->keep_to = p;
		val->secret_to = val->end = te;
		return;
	}
	val->keep_to = v;
}

/* A byte of the credentials that Basic and Token take. */
static inline bool
is_credential_byte(int c)
{
	return is_word(c) || c == '+' || c == '/' || c == '=' || c == '.' ||
		c == '~';
}

/*
 * 'Bearer ' || 'token', concat('Bearer ', 'token'), format('Bearer %s',
 * 'token'): after an auth scheme word ending at r, blanks, an optional
 * placeholder, the end of the SQL literal around them (a run of ' or \'),
 * || or a comma, and the next SQL literal ('...', E'...', ''...'' one level
 * down, \'...\' inside an E'' string).  Returns where that literal starts,
 * its secret in *val, or 0.  After Basic or Token the literal must look
 * like a credential; this is checked before the literal is parsed, and a
 * literal after Bearer is refused only when it is empty or a bare scheme
 * word, so a refused literal is short or a run of blanks, and the scan
 * stays linear.
 */
static size_t
match_concat(const Scan *s, size_t r, Value *val)
{
	bool		bearer = r >= 6 && word_is(s, r - 6, r, "bearer");
	bool		comma = false;
	size_t		p = skip_blanks(s, r);
	size_t		k;
	size_t		b;

	if (p == r)
		return 0;
	p = placeholder_end(s, p);
	if (at(s, p) == '\\' && at(s, p + 1) == '\'')
		k = p + 2;
	else if (at(s, p) == '\'')
		k = p + quote_run(s, p);
	else
		return 0;
	k = skip_spaces(s, k);
	if (at(s, k) == '|' && at(s, k + 1) == '|')
		k = skip_spaces(s, k + 2);
	else if (at(s, k) == ',')
	{
		comma = true;
		k = skip_spaces(s, k + 1);
	}
	else
		return 0;
	if ((at(s, k) == 'E' || at(s, k) == 'e') &&
		(at(s, k + 1) == '\'' || (at(s, k + 1) == '\\' && at(s, k + 2) == '\'')))
		k++;
	if (at(s, k) == '\'')
		b = k + quote_run(s, k);
	else if (at(s, k) == '\\' && at(s, k + 1) == '\'')
		b = k + 2;
	else
		return 0;
	if (!bearer)
	{
		size_t		te = b;

		while (is_credential_byte(at(s, te)))
			te++;
		if ((at(s, te) != '\'' && at(s, te) != '\\') ||
			!looks_like_credential(s, b, te))
			return 0;
	}
	if (!parse_quoted(s, k, val) || val->secret_to == val->keep_to)
		return 0;

	/*
	 * jsonb_build_object('Authorization', 'Bearer ', 'apikey', 'x'): the
	 * next argument is a key naming a secret, whose own value is the
	 * secret; taking it for the token would let that value through.
	 */
	if (comma && word_end(s, val->keep_to) == val->secret_to &&
		key_names_secret(s, val->keep_to, val->secret_to))
		return 0;
	return k;
}

/*
 * Emits the key or word at i up to its value at v, and the value; when the
 * value is a bare scheme word ending its literal, the literal concatenated
 * to it instead.  Returns the end.
 */
static size_t
emit_pair(Scan *s, size_t i, size_t v, const Value *val)
{
	Value		lit;
	size_t		l;

	if (val->scheme_end != 0 &&
		(l = match_concat(s, val->scheme_end, &lit)) != 0 && l >= val->end)
	{
		emit(s, i, l);
		emit_value(s, l, &lit);
		return lit.end;
	}
	emit(s, i, v);
	emit_value(s, v, val);
	return val->end;
}

/*
 * A key naming a secret, the word [i, e), with its value: emits both and
 * returns the end, or returns 0 having emitted nothing.
 */
static size_t
match_key(Scan *s, size_t i, size_t e)
{
	int			close = -1;
	size_t		j = e;
	size_t		k;
	int			c;
	int			c1;
	Value		val;

	/* ?key=, &key=: the query parameter of Google APIs and others */
	bool		query_key = i > 0 && (s->in[i - 1] == '?' || s->in[i - 1] == '&') &&
		word_is(s, i, e, "key") && at(s, e) == '=';

	/* the schema auth and the pool mode session, in lists: not keys */
	bool		bare = word_is(s, i, e, "auth") || word_is(s, i, e, "session");

	if (!query_key && !key_names_secret(s, i, e))
		return 0;
	c = at(s, j);
	if (c == '\\' && is_quote(at(s, j + 1)))
		j += 2;
	else if (is_quote(c))
	{
		close = c;
		j++;
	}

	/*
	 * 'apikey', 'value' as in jsonb_build_object, or set_config('app.secret',
	 * 'value'): a quoted key (or the last part of a dotted one), a comma and
	 * a quoted value.
	 */
	if (close != -1 && i > 0 && !bare &&
		(s->in[i - 1] == close || s->in[i - 1] == '.'))
	{
		k = skip_spaces(s, j);
		if (at(s, k) == ',')
		{
			k = skip_spaces(s, k + 1);
			if (parse_quoted(s, k, &val))
				return emit_pair(s, i, k, &val);
		}
	}

	/* vault.create_secret('value', ...): a quoted first argument */
	if (j == e && !bare && at(s, e) == '(' && parse_quoted(s, e + 1, &val))
		return emit_pair(s, i, e + 1, &val);

	k = skip_blanks(s, j);

	/* SET app.secret TO 'value': only quoted, GRANT ... ON token TO x stays */
	if (k > j && !bare && word_is(s, k, word_end(s, k), "to") &&
		is_blank(at(s, k + 2)))
	{
		size_t		v = skip_blanks(s, k + 2);

		if (parse_quoted(s, v, &val))
			return emit_pair(s, i, v, &val);
	}

	c = at(s, k);
	c1 = at(s, k + 1);
	if (c == '=')
		k += (c1 == '=' || c1 == '>') ? 2 : 1;
	else if (c == ':' && c1 == '=')
		k += 2;
	else if (c == ':' && c1 != ':' && !(c1 == '/' && at(s, k + 2) == '/'))
		k += 1;
	else
		return 0;
	k = skip_blanks(s, k);
	parse_value(s, k, &val);
	return emit_pair(s, i, k, &val);
}

/* Bearer/Basic/Token <token> at the word [i, e): like match_key. */
static size_t
match_scheme(Scan *s, size_t i, size_t e)
{
	size_t		p;
	size_t		te;
	size_t		l;
	Value		lit;

	if (!word_is_scheme(s, i, e) || !is_blank(at(s, e)))
		return 0;
	if ((l = match_concat(s, e, &lit)) != 0)
	{
		emit(s, i, l);
		emit_value(s, l, &lit);
		return lit.end;
	}
	p = skip_blanks(s, e);
	te = value_end(s, p);
	if (te == p || placeholder_end(s, p) == te)
		return 0;
	if (!word_is(s, i, e, "bearer") && !looks_like_credential(s, p, te))
		return 0;
	emit(s, i, p);
	emit_mark(s);
	return te;
}

/* PASSWORD '...' of CREATE/ALTER ROLE at the word [i, e): like match_key. */
static size_t
match_sql_password(Scan *s, size_t i, size_t e)
{
	size_t		k;
	Value		val;

	if (!word_is(s, i, e, "password"))
		return 0;
	k = skip_spaces(s, e);
	if (k == e || at(s, k) != '\'' || !parse_quoted(s, k, &val))
		return 0;
	emit(s, i, k);
	emit_value(s, k, &val);
	return val.end;
}

/* A byte of the user name of curl -u. */
static inline bool
is_user_byte(int c)
{
	return is_word(c) || c == '.' || c == '@' || c == '+' || c == '~';
}

/* Whether c ends an unquoted shell word (curl -u user:password). */
static inline bool
ends_shell_word(int c)
{
	switch (c)
	{
		case -1:
		case '\0':
		case '\\':
		case ';':
		case '&':
		case '|':
		case '<':
		case '>':
		case ')':
			return true;
		default:
			return is_space(c) || is_quote(c);
	}
}

/*
 * curl -u user:password, --user user:password or --user=user:password at
 * the word [i, e) (case as written): emits up to the password, "***" for
 * it, and returns its end, or returns 0.  The user name is [A-Za-z0-9_.@+~-]
 * not starting with - or + (date -u +%H:%M stays), and may be quoted with
 * ' or "; the password runs to the closing quote, or to the end of the
 * shell word.
 */
static size_t
match_curl_user(Scan *s, size_t i, size_t e)
{
	bool		long_form = e - i == 6 && memcmp(s->in + i, "--user", 6) == 0;
	int			q = -1;
	size_t		u;
	size_t		pe;

	if (!long_form && !(e - i == 2 && memcmp(s->in + i, "-u", 2) == 0))
		return 0;
	if (long_form && at(s, e) == '=')
		u = e + 1;
	else if (is_blank(at(s, e)))
		u = skip_blanks(s, e);
	else
		return 0;
	if (at(s, u) == '\'' || at(s, u) == '"')
		q = at(s, u++);
	if (at(s, u) == '-' || at(s, u) == '+')
		return 0;
	while (is_user_byte(at(s, u)))
		u++;
	if (at(s, u) != ':')
		return 0;
	pe = u + 1;
	if (q != -1)
		while (at(s, pe) > 0 && at(s, pe) != q && at(s, pe) != '\\')
			pe++;
	else
	{
		/*
		 * (Its first byte may be one that would end a shell word, such as
		 * '<': taken as the password's, so that no other rule ends it
		 * elsewhere and a second redaction changes nothing.)
		 */
		if (at(s, pe) > 0 && !is_space(at(s, pe)) && !is_quote(at(s, pe)) && at(s, pe) != '\\')
			pe++;
		while (!ends_shell_word(at(s, pe)))
			pe++;
	}
	if (pe == u + 1)
		return 0;

	emit(s, i, u + 1);
	emit_mark(s);
	return pe;
}

/*
 * Copies [from, to) redacting only the secrets known by their shape, which
 * never hold : @ or a byte that ends an authority, so they cannot change
 * where a URI's userinfo ends.
 */
static void
emit_shapes(Scan *s, size_t from, size_t to)
{
	size_t		j = from;

	while (j < to)
	{
		if (is_word(s->in[j]) && (j == 0 || !is_word(s->in[j - 1])))
		{
			size_t		e = word_end(s, j);
			size_t		end = match_prefix_key(s, j, e);

			if (end == 0)
				end = match_jwt(s, j, e);
			if (end != 0 && end <= to)
			{
				emit_mark(s);
				j = end;
			}
			else
			{
				e = e < to ? e : to;
				emit(s, j, e);
				j = e;
			}
		}
		else
		{
			emit(s, j, j + 1);
			j++;
		}
	}
}

/*
 * scheme://user:password@host at the :// at i: emits :// and the authority
 * with the password redacted, returns the end of the authority.  The whole
 * authority is consumed, so that what a later rule does to it cannot move
 * its @ or its end on a second pass.
 */
static size_t
match_uri(Scan *s, size_t i)
{
	size_t		a = i + 3;
	size_t		ae = a;
	size_t		last_at = SIZE_MAX;
	size_t		colon = SIZE_MAX;

	for (; !ends_authority(at(s, ae)); ae++)
		if (s->in[ae] == '@')
			last_at = ae;
	emit(s, i, a);
	if (last_at != SIZE_MAX)
		for (size_t j = a; j < last_at && colon == SIZE_MAX; j++)
			if (s->in[j] == ':')
				colon = j;
	if (colon == SIZE_MAX || colon + 1 == last_at)
	{
		emit_shapes(s, a, ae);
		return ae;
	}
	emit_shapes(s, a, colon + 1);
	emit_mark(s);
	emit_shapes(s, last_at, ae);
	return ae;
}

/* Whether the input at i starts with lit. */
static bool
starts_with(const Scan *s, size_t i, const char *lit)
{
	size_t		n = strlen(lit);

	return s->len - i >= n && memcmp(s->in + i, lit, n) == 0;
}

/*
 * The token of a Discord (/api/webhooks/<id>/<token>) or Slack
 * (/services/T.../B.../<token>) webhook path at the / at i: emits the path
 * with the token redacted and returns its end, or returns 0.
 */
static size_t
match_webhook(Scan *s, size_t i)
{
	size_t		t;
	size_t		te;

	if (starts_with(s, i, "/api/webhooks/"))
	{
		t = i + strlen("/api/webhooks/");
		while (is_digit(at(s, t)))
			t++;
		if (t == i + strlen("/api/webhooks/") || at(s, t) != '/')
			return 0;
		t++;
	}
	else if (starts_with(s, i, "/services/T"))
	{
		t = word_end(s, i + strlen("/services/"));
		if (at(s, t) != '/' || at(s, t + 1) != 'B')
			return 0;
		t = word_end(s, t + 1);
		if (at(s, t) != '/')
			return 0;
		t++;
	}
	else
		return 0;
	te = word_end(s, t);
	if (te == t)
		return 0;
	emit(s, i, t);
	emit_mark(s);
	return te;
}

/*
 * The values of a PostgreSQL constraint DETAIL, Key (cols)=(vals) ..., at
 * the ( at i when a column names a secret: a unique violation on a token
 * column quotes the token.  Emits up to the values, "***" for them, and
 * returns where their closing ) is, or returns 0.  The values end at the
 * first ) followed by whitespace, a period or the end (they are not
 * escaped), else at the end of the line.
 */
static size_t
match_key_detail(Scan *s, size_t i)
{
	bool		secret = false;
	size_t		j = i + 1;
	size_t		v;
	size_t		ve;

	for (;;)
	{
		int			c = at(s, j);

		if (is_word(c))
		{
			size_t		e = word_end(s, j);

			secret |= key_names_secret(s, j, e);
			j = e;
		}
		else if (c == ',' || c == ' ' || c == '"')
			j++;
		else
			break;
	}
	if (!secret || at(s, j) != ')' || at(s, j + 1) != '=' ||
		at(s, j + 2) != '(')
		return 0;
	v = ve = j + 3;
	for (;; ve++)
	{
		int			c = at(s, ve);

		if (c < 0 || c == '\n')
			break;
		if (c == ')' && (at(s, ve + 1) < 0 || is_space(at(s, ve + 1)) ||
						 at(s, ve + 1) == '.'))
			break;
	}
	emit(s, i, v);
	if (ve > v)
		emit_mark(s);
	return ve;
}

/*
 * The output size to provide: a secret is never empty, so "***" at most
 * triples it, and everything else is copied byte for byte.
 */
size_t
redact_bound(size_t len)
{
	if (len > (SIZE_MAX - 1) / 3)
		return SIZE_MAX;
	return 3 * len + 1;
}

/*
 * The scan: at the start of each word the rules that start there, in order
 * (shapes first, since they are secrets whatever surrounds them), else the
 * whole word is copied; at ://, / and ( the URI, webhook and constraint
 * DETAIL rules.
 */
size_t
redact_secrets(const char *in, size_t len, char *out)
{
	Scan		s;
	size_t		i = 0;

	s.in = (const unsigned char *) in;
	s.len = len;
	s.out = out;
	s.o = 0;
	while (i < len)
	{
		int			c = s.in[i];
		size_t		end;

		if (is_word(c) && (i == 0 || !is_word(s.in[i - 1])))
		{
			size_t		e = word_end(&s, i);
			size_t		from;

			if ((end = match_shape(&s, i, e, &from)) != 0)
			{
				emit(&s, i, from);
				emit_mark(&s);
			}
			else if ((end = match_key(&s, i, e)) == 0 &&
					 (end = match_scheme(&s, i, e)) == 0 &&
					 (end = match_sql_password(&s, i, e)) == 0 &&
					 (end = match_curl_user(&s, i, e)) == 0)
			{
				emit(&s, i, e);
				end = e;
			}
			i = end;
		}
		else if (c == ':' && at(&s, i + 1) == '/' && at(&s, i + 2) == '/')
			i = match_uri(&s, i);
		else if (c == '/' && (end = match_webhook(&s, i)) != 0)
			i = end;
		else if (c == '(' && (end = match_key_detail(&s, i)) != 0)
			i = end;
		else
		{
			emit(&s, i, i + 1);
			i++;
		}
	}
	out[s.o] = '\0';
	return s.o;
}
