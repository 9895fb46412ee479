/*
 * conninfo_mask.c
 *		Hiding a connection string's secrets in a message about it.
 *
 * libpq repeats parts of a connection string in its errors, sometimes all
 * of it (a URI it cannot parse), and a malformed string is exactly where a
 * precise parser cannot say what the password is.  So secrets are looked
 * for leniently (better to mask a word too many), and what libpq quotes from
 * the connection string is hidden unless it is plainly harmless.
 */
#include "conninfo_mask.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The longest quoted word shown as it is. */
#define MAX_PLAIN_WORD 40

/* Words of a secret shorter than this are not masked on their own. */
#define MIN_SECRET_WORD 4

#define MASK "***"

/* A growing list of malloc'd strings. */
typedef struct StrList
{
	char	  **items;
	int			n;
	int			size;
	bool		oom;
} StrList;

/* A growing malloc'd string. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		size;
	bool		oom;
} Buf;

static void buf_add(Buf *b, const char *s, size_t len);
static void list_add(StrList *l, const char *s, size_t len);
static void add_secret(StrList *l, const char *s, size_t len);
static void find_secrets(StrList *l, const char *text);
static char *percent_decode(const char *s, size_t len);
static bool is_word_char(char c);
static bool is_space(char c);
static int	ci_prefix(const char *s, const char *word);
static bool assignment_at(const char *text, size_t k);
static bool show_quoted(const char *f, size_t len, const StrList *secrets,
						const char *conninfo, const char *decoded,
						const ConninfoMaskHints *hints);
static bool contains(const char *hay, size_t haylen, const char *needle, size_t nlen);

/* Appends len bytes to b, remembering a failed allocation. */
static void
buf_add(Buf *b, const char *s, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len + 1 > b->size)
	{
		size_t		size = b->size ? b->size : 64;
		char	   *data;

		while (b->len + len + 1 > size)
			size *= 2;
		data = realloc(b->data, size);
		if (data == NULL)
		{
			b->oom = true;
			return;
		}
		b->data = data;
		b->size = size;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Adds a copy of s (len bytes) to l, unless empty or already there. */
static void
list_add(StrList *l, const char *s, size_t len)
{
	char	   *copy;

	if (len == 0 || l->oom)
		return;
	for (int i = 0; i < l->n; i++)
		if (strlen(l->items[i]) == len && memcmp(l->items[i], s, len) == 0)
			return;
	if (l->n == l->size)
	{
		int			size = l->size ? l->size * 2 : 16;
		char	  **items = realloc(l->items, sizeof(char *) * size);

		if (items == NULL)
		{
			l->oom = true;
			return;
		}
		l->items = items;
		l->size = size;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
	{
		l->oom = true;
		return;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	l->items[l->n++] = copy;
}

/* Letters, digits and underscore: what a keyword is made of. */
static bool
is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_';
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The length of 'word' if s starts with it in any case, else 0. */
static int
ci_prefix(const char *s, const char *word)
{
	int			i;

	for (i = 0; word[i]; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != word[i])
			return 0;
	}
	return i;
}

/*
 * Whether a "keyword =" of a connection string (or "&keyword=" of a URI)
 * starts at text[k].
 */
static bool
assignment_at(const char *text, size_t k)
{
	size_t		e = k;

	if (k > 0 && !is_space(text[k - 1]) && text[k - 1] != '&' && text[k - 1] != '?')
		return false;
	if (!is_word_char(text[e]) || (text[e] >= '0' && text[e] <= '9'))
		return false;
	while (is_word_char(text[e]))
		e++;
	while (is_space(text[e]))
		e++;
	return text[e] == '=';
}

/* A malloc'd copy of s with %XX sequences decoded; NULL when out of memory. */
static char *
percent_decode(const char *s, size_t len)
{
	char	   *out = malloc(len + 1);
	size_t		o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		const char *hex = "0123456789abcdef0123456789ABCDEF";
		const char *h1,
				   *h2;

		if (s[i] == '%' && i + 2 < len &&
			(h1 = strchr(hex, s[i + 1])) != NULL && (h2 = strchr(hex, s[i + 2])) != NULL)
		{
			out[o++] = (char) ((((h1 - hex) % 16) << 4) | ((h2 - hex) % 16));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/*
 * Adds a secret value as found (trimmed), its unquoted and unescaped forms,
 * their percent-decoded forms, and their whitespace-separated words of
 * MIN_SECRET_WORD characters or more.
 */
static void
add_secret(StrList *l, const char *s, size_t len)
{
	StrList		forms = {0};

	while (len > 0 && (is_space(*s)))
		s++, len--;
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len == 0)
		return;
	list_add(&forms, s, len);
	if (len >= 2 && (s[0] == '\'' || s[0] == '"'))
	{
		const char *inner = s + 1;
		size_t		ilen = len - 1;
		char	   *unescaped;
		size_t		u = 0;

		if (inner[ilen - 1] == s[0])
			ilen--;
		list_add(&forms, inner, ilen);
		unescaped = malloc(ilen + 1);
		if (unescaped == NULL)
			forms.oom = true;
		else
		{
			for (size_t i = 0; i < ilen; i++)
			{
				if (inner[i] == '\\' && i + 1 < ilen)
					i++;
				unescaped[u++] = inner[i];
			}
			list_add(&forms, unescaped, u);
			free(unescaped);
		}
	}
	for (int i = 0, n = forms.n; i < n; i++)
	{
		char	   *d = percent_decode(forms.items[i], strlen(forms.items[i]));

		if (d == NULL)
			forms.oom = true;
		else
		{
			list_add(&forms, d, strlen(d));
			free(d);
		}
	}
	for (int i = 0; i < forms.n; i++)
	{
		const char *f = forms.items[i];

		/* '' is libpq's empty password: nothing to hide */
		if (strcmp(f, "''") == 0)
			continue;
		list_add(l, f, strlen(f));
		for (const char *w = f; *w;)
		{
			size_t		wl = 0;

			while (*w && is_space(*w))
				w++;
			while (w[wl] && !is_space(w[wl]))
				wl++;
			if (wl >= MIN_SECRET_WORD)
				list_add(l, w, wl);
			w += wl;
		}
	}
	if (forms.oom)
		l->oom = true;
	for (int i = 0; i < forms.n; i++)
		free(forms.items[i]);
	free(forms.items);
}

/*
 * The secrets a connection string (or its percent-decoded form) holds, read
 * leniently: after a password/sslpassword keyword whatever separates it from
 * its value, both to the next "keyword=" and as libpq would read one value;
 * a URI's user:password@, by libpq's rule (the first '@' before a '/') and
 * by the last '@'.
 */
static void
find_secrets(StrList *l, const char *text)
{
	size_t		tlen = strlen(text);

	for (size_t i = 0; i < tlen; i++)
	{
		int			kw;
		size_t		j,
					k,
					e;

		if (i > 0 && (is_word_char(text[i - 1]) || text[i - 1] == '='))
			continue;
		kw = ci_prefix(text + i, "sslpassword");
		if (kw == 0)
			kw = ci_prefix(text + i, "password");
		if (kw == 0)
			continue;
		/* one '=' or ':' (any more may be the value), with spaces around */
		j = i + kw;
		while (j < tlen && is_space(text[j]))
			j++;
		if (j < tlen && (text[j] == '=' || text[j] == ':'))
			j++;
		while (j < tlen && is_space(text[j]))
			j++;
		/* to the next keyword= (a value starting with one is still a value) */
		for (k = j + 1; k < tlen && !assignment_at(text, k); k++)
			;
		if (j < tlen)
			add_secret(l, text + j, (k < tlen ? k : tlen) - j);
		/* one value as libpq reads it: quoted, or to a space */
		if (j < tlen && text[j] == '\'')
		{
			for (e = j + 1; e < tlen && text[e] != '\''; e++)
				if (text[e] == '\\' && e + 1 < tlen)
					e++;
			add_secret(l, text + j, (e < tlen ? e + 1 : tlen) - j);
		}
		else
		{
			for (e = j; e < tlen && !is_space(text[e]); e++)
				;
			add_secret(l, text + j, e - j);
			/* a URI parameter ends at '&' or '#' */
			for (e = j; e < tlen && !is_space(text[e]) && text[e] != '&' && text[e] != '#'; e++)
				;
			add_secret(l, text + j, e - j);
		}
	}

	for (const char *p = strstr(text, "://"); p; p = strstr(p + 3, "://"))
	{
		const char *auth = p + 3;
		const char *first = auth;
		const char *last = NULL;

		while (*first && *first != '@' && *first != '/')
			first++;
		for (const char *q = auth; *q && !is_space(*q); q++)
			if (*q == '@')
				last = q;
		for (int pass = 0; pass < 2; pass++)
		{
			const char *at = pass == 0 ? (*first == '@' ? first : NULL) : last;
			const char *colon;

			if (at == NULL)
				continue;
			colon = memchr(auth, ':', at - auth);
			if (colon)
				add_secret(l, colon + 1, at - colon - 1);
		}
	}
}

/* Whether needle (nlen bytes) occurs in hay (haylen bytes). */
static bool
contains(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
	if (nlen == 0 || nlen > haylen)
		return nlen == 0;
	for (size_t i = 0; i + nlen <= haylen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return true;
	return false;
}

/*
 * Whether a fragment the message quotes may be shown: it touches no secret,
 * and it is a plain word, a known non-secret value, or text that is not from
 * the connection string at all (a server's message naming a relation).
 */
static bool
show_quoted(const char *f, size_t len, const StrList *secrets,
			const char *conninfo, const char *decoded,
			const ConninfoMaskHints *hints)
{
	bool		plain = len > 0 && len <= MAX_PLAIN_WORD;

	if (len == 0)
		return true;
	for (int i = 0; i < secrets->n; i++)
	{
		const char *s = secrets->items[i];
		size_t		slen = strlen(s);

		if (contains(f, len, s, slen) || contains(s, slen, f, len))
			return false;
	}
	for (size_t i = 0; i < len && plain; i++)
		plain = is_word_char(f[i]);
	if (plain)
		return true;
	/* punctuation alone ("=", "]") says where, not what */
	for (size_t i = 0; i < len; i++)
	{
		if (is_word_char(f[i]) || is_space(f[i]) || (unsigned char) f[i] >= 0x80)
			break;
		if (i == len - 1)
			return true;
	}
	for (int i = 0; hints && i < hints->nshown; i++)
		if (hints->shown[i] && strlen(hints->shown[i]) == len &&
			memcmp(hints->shown[i], f, len) == 0)
			return true;
	if (conninfo && contains(conninfo, strlen(conninfo), f, len))
		return false;
	if (decoded && contains(decoded, strlen(decoded), f, len))
		return false;
	return true;
}

char *
ConninfoMask(const char *conninfo, const char *message, const ConninfoMaskHints *hints)
{
	StrList		secrets = {0};
	char	   *decoded = NULL;
	Buf			quoted = {0};
	Buf			out = {0};
	const char *p;
	bool		failed = false;

	if (message == NULL)
		message = "";
	for (int i = 0; hints && i < hints->nsecrets; i++)
		if (hints->secrets[i])
			add_secret(&secrets, hints->secrets[i], strlen(hints->secrets[i]));
	if (conninfo)
	{
		decoded = percent_decode(conninfo, strlen(conninfo));
		failed = decoded == NULL;
		find_secrets(&secrets, conninfo);
		if (decoded)
			find_secrets(&secrets, decoded);
	}

	/* what libpq quoted */
	buf_add(&quoted, "", 0);
	for (p = message; *p;)
	{
		const char *close;
		size_t		flen;

		if (*p != '"')
		{
			size_t		run = strcspn(p, "\"");

			buf_add(&quoted, p, run);
			p += run;
			continue;
		}
		close = strchr(p + 1, '"');
		flen = close ? (size_t) (close - p - 1) : strlen(p + 1);
		buf_add(&quoted, "\"", 1);
		if (show_quoted(p + 1, flen, &secrets, conninfo, decoded, hints))
			buf_add(&quoted, p + 1, flen);
		else
			buf_add(&quoted, MASK, strlen(MASK));
		if (close)
			buf_add(&quoted, "\"", 1);
		p = close ? close + 1 : p + 1 + flen;
	}

	/* every secret wherever it is, the longest first */
	for (int i = 1; i < secrets.n; i++)
		for (int k = i; k > 0 && strlen(secrets.items[k]) > strlen(secrets.items[k - 1]); k--)
		{
			char	   *t = secrets.items[k];

			secrets.items[k] = secrets.items[k - 1];
			secrets.items[k - 1] = t;
		}
	if (!quoted.oom)
	{
		char	   *text = quoted.data;

		quoted.data = NULL;
		for (int i = 0; i < secrets.n && !failed; i++)
		{
			const char *s = secrets.items[i];
			size_t		slen = strlen(s);
			const char *hit;

			out = (Buf)
			{
				0
			};
			buf_add(&out, "", 0);
			p = text;
			while ((hit = strstr(p, s)) != NULL)
			{
				buf_add(&out, p, hit - p);
				buf_add(&out, MASK, strlen(MASK));
				p = hit + slen;
			}
			buf_add(&out, p, strlen(p));
			free(text);
			text = out.data;
			if (out.oom)
				failed = true;
		}
		out.data = text;
	}
	else
		failed = true;

	free(quoted.data);
	free(decoded);
	for (int i = 0; i < secrets.n; i++)
		free(secrets.items[i]);
	free(secrets.items);
	if (failed || secrets.oom)
	{
		free(out.data);
		return NULL;
	}
	return out.data;
}
