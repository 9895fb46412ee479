/*
 * redact.h
 *		Secrets taken out of text (cron commands, run errors, alert texts)
 *		before supamon stores or sends it: pure C, no backend headers, no
 *		heap allocation, linear time.
 *
 * Each secret value becomes "***"; the syntax around it (quotes, key names,
 * the word Bearer, separators) stays, so the text stays readable and JSON
 * stays JSON-shaped.  What is redacted:
 *
 *	- Bearer <token>, Basic <token>, Token <token> (the words in any case):
 *	  the token after the word and spaces or tabs.  A token ends at
 *	  whitespace, a quote (" ' `), a backslash (the escape of the string
 *	  around it), a NUL or one of , ; & ) } ].  After Bearer any token goes;
 *	  after Basic or Token only one that looks like a credential (8 or more
 *	  of [A-Za-z0-9+/=_.~-] with a digit, one of + / = _ or a capital past
 *	  its first letter), so that prose such as "the token has expired"
 *	  stays.  A format() placeholder (%s, %I, %L, %1$s) as the whole token
 *	  is not one: the argument is (below).
 *
 *	- The token concatenated to such a word: when Bearer, Basic or Token is
 *	  followed by blanks (and optionally a placeholder) that end its SQL
 *	  literal (a run of ' or \'), then, past whitespace, by || or a comma,
 *	  the next SQL literal ('...', E'...', ''...'' one level down, \'...\'
 *	  inside an E'' string) is the token: 'Bearer ' || '***',
 *	  concat('Bearer ', '***'), format('Bearer %s', '***').  After Basic
 *	  and Token the literal must look like a credential (as above); an
 *	  empty literal or a bare scheme word hides nothing, nor after a comma
 *	  does a key naming a secret ('Bearer ', 'apikey', '...': its value is
 *	  the secret), and what is not a literal ('Bearer ' ||
 *	  current_setting('app.key')) is left alone.
 *
 *	- JWTs anywhere: a word starting with eyJ followed by .segment and
 *	  optionally .segment (base64url), the whole of it; a word starting
 *	  with eyJ cut by the end of the input, whatever is there.
 *
 *	- Provider key shapes anywhere, the whole word: sb_secret_, sbp_,
 *	  sk_live_, sk_test_, rk_live_, rk_test_, whsec_, ghp_, gho_, ghu_, ghs_,
 *	  ghr_, github_pat_, glpat-, xoxb-, xoxp-, xoxa-, xoxr-, xoxe-, xapp-,
 *	  sk-proj-, sk-ant-, AIza (Google API keys) (case as written)
 *	  followed by 8 or more [A-Za-z0-9_-] with a digit or a capital, or by
 *	  20 or more, or by anything when the input ends there (so the table
 *	  sk_test_results stays).  And the secrets of supamon's own channels:
 *	  Telegram bot tokens (bot<digits>:<30 or more [A-Za-z0-9_-]>, bot
 *	  stays), the token of Discord (/api/webhooks/<id>/<token>) and Slack
 *	  (/services/T.../B.../<token>) webhook paths.
 *
 *	- Key/value pairs whose key names a secret.  A key is a word of
 *	  [A-Za-z0-9_-] that ends (case-insensitive, ignoring _ and -) with
 *	  apikey, password, passwd, passphrase, pwd, secret, token,
 *	  authorization, servicerolekey, privatekey, accesskey, secretkey,
 *	  signature, credential, credentials, cookie or session, or with sig or
 *	  auth as a whole word, after - or _, or as a capital after a small
 *	  letter (x-sig, basic_auth, hubSig; not config or oauth); a trailing
 *	  number, with the - or _ before it, is ignored: so api_key, x-api-key,
 *	  client_secret, access_token, refresh_token, PGPASSWORD,
 *	  SUPABASE_SERVICE_ROLE_KEY, accessToken, X-Amz-Signature,
 *	  X-Amz-Credential, X-Hub-Signature-256 and Cookie all count.  So does
 *	  key right after ? or & and before = (?key=..., a URL query).  It
 *	  must be followed, after an optional closing quote (" ' ` \" \') and
 *	  spaces or tabs, by a separator = : := => or == (not :: and not ://),
 *	  then spaces or tabs, then the value:
 *		- quoted ("..." or '...'): up to its closing quote; a backslash
 *		  escapes the next byte and '' is a quote inside '...'.  A value
 *		  opened by \" or \' (JSON inside a string) ends at the same pair.
 *		  One opened by n > 1 quotes then a value byte (a literal inside an
 *		  SQL literal: ''...'' one level down, ''''...'''' two) ends at n
 *		  quotes, 2n being a quote inside it.  A value cut by the end of the
 *		  input is redacted up to the end.
 *		- unquoted: up to whitespace, a quote, a backslash, a NUL,
 *		  , ; & ) } ] or the end.  null, true and false are kept, and a
 *		  value starting with { [ or ( is not one (the scan goes on inside).
 *		- a value starting with Bearer, Basic or Token and spaces keeps the
 *		  word: "Authorization": "Bearer ***".  Empty values stay empty.
 *	  A key followed by anything else is a plain word: token_count,
 *	  password_reset_at, "token is invalid" and password_hash = x are left
 *	  alone.  SQL comparisons and assignments are redacted too
 *	  (WHERE token = 'x' gives WHERE token = '***'): telling them apart
 *	  would need an SQL parser, and a false positive costs little.
 *	  Three more shapes count as a pair, with a quoted value only: a quoted
 *	  key (or the last part of a dotted one) followed by a comma, for
 *	  jsonb_build_object('apikey', '...') and set_config('app.jwt_secret',
 *	  '...') (this also redacts the second word of a list such as
 *	  ('token', 'password'), but the bare words auth and session, a schema
 *	  and a pool mode in such lists, count only before a separator); a key
 *	  followed by the word TO, for
 *	  SET app.service_role_key TO '...'; a key followed by ( as a function,
 *	  for vault.create_secret('...'): its first argument.
 *
 *	- PASSWORD '...' (CREATE/ALTER ROLE): the literal.
 *
 *	- curl basic auth: -u user:password, --user user:password and
 *	  --user=user:password (case as written) give -u user:***.  The user
 *	  name is [A-Za-z0-9_.@+~-] not starting with - or + (so date -u +%H:%M
 *	  stays), optionally opened by ' or "; the password runs to that quote
 *	  (or a backslash), else to the end of the shell word (whitespace, a
 *	  quote, a backslash, ; & | < > or )).  Other tools' -u uid:gid is
 *	  redacted too.
 *
 *	- The values of a constraint DETAIL whose columns include a key naming a
 *	  secret: Key (user_id, token)=(1, abc) gives Key (user_id, token)=(***).
 *	  They end at the first ) followed by whitespace, a period or the end,
 *	  else at the end of the line.
 *
 *	- URI userinfo passwords: scheme://user:secret@host gives
 *	  scheme://user:***@host.  The authority ends at / ? # whitespace, a
 *	  quote, a backslash, a NUL, < or >; its last @ ends the userinfo, whose
 *	  first : starts the password.  A password with an unescaped / ? or # is
 *	  therefore not found (such a URI is invalid anyway).
 *
 * Rules only start at the beginning of a word (the byte before is not one of
 * [A-Za-z0-9_-]); bytes of 0x80 and above count as non-word, so a secret
 * right after non-ASCII text is still found.  Every secret starts and ends
 * next to an ASCII byte or at the end of the input, so no UTF-8 character is
 * ever split and valid UTF-8 stays valid; other bytes (invalid UTF-8, NULs)
 * are copied as they are.  The output of redact_secrets is a fixed point:
 * redacting it again changes nothing.
 */
#ifndef SUPAMON_REDACT_H
#define SUPAMON_REDACT_H

#include <stddef.h>

/* The text that replaces every secret. */
#define REDACT_MARK "***"

/*
 * Copies len bytes of in to out with every secret value replaced by "***";
 * out must have room for redact_bound(len) bytes.  Returns the bytes
 * written, not counting the NUL that follows them (out may hold NULs of the
 * input before it).  Never splits a UTF-8 character, never reads past len,
 * works on any bytes (invalid UTF-8, NULs: a NUL in the input is kept as
 * is, counted in len).  in may be NULL when len is 0; in and out must not
 * overlap.
 */
extern size_t redact_secrets(const char *in, size_t len, char *out);

/*
 * A safe upper bound of the output size incl. NUL: 3 * len + 1, since only
 * non-empty secrets are replaced and everything else is copied byte for
 * byte.  SIZE_MAX when that does not fit in a size_t.
 */
extern size_t redact_bound(size_t len);

#endif
