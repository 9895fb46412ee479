/*
 * test_conninfo_mask.c
 *		Unit tests of the masking of connection string secrets
 *		(src/conninfo_mask.c), with the messages libpq 15 really gives.
 */
#include "conninfo_mask.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* Masks with no hints (a conninfo libpq cannot parse has none). */
static char *
mask(const char *conninfo, const char *message)
{
	return ConninfoMask(conninfo, message, NULL);
}

/* Checks that none of the secrets survives, and the expected text. */
static void
expect(const char *conninfo, const char *message, const char *want,
	   const char *secret1, const char *secret2)
{
	char	   *got = mask(conninfo, message);

	CHECK(got != NULL, "out of memory for %s", conninfo);
	if (got == NULL)
		return;
	if (want)
		CHECK(strcmp(got, want) == 0, "[%s] %s\n  got:  %s\n  want: %s", conninfo, message, got, want);
	if (secret1)
		CHECK(strstr(got, secret1) == NULL, "[%s] leaks %s: %s", conninfo, secret1, got);
	if (secret2)
		CHECK(strstr(got, secret2) == NULL, "[%s] leaks %s: %s", conninfo, secret2, got);
	free(got);
}

/* A small deterministic generator, so a failure can be replayed. */
static unsigned long long rng_state = 88172645463325252ULL;

static unsigned
rng(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned) (rng_state % n);
}

/* Appends c to s at *len, percent-encoded when it is not plainly safe. */
static void
put_encoded(char *s, size_t *len, char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		s[(*len)++] = c;
	else
		*len += sprintf(s + *len, "%%%02X", (unsigned char) c);
}

/* Checks that masking hides pw in message for conninfo. */
static void
expect_hidden(const char *conninfo, const char *message, const char *pw)
{
	char	   *got = mask(conninfo, message);

	CHECK(got && strstr(got, pw) == NULL, "password [%s] of [%s] leaks in [%s] -> [%s]",
		  pw, conninfo, message, got ? got : "(null)");
	free(got);
}

/*
 * Random passwords, in every syntax a connection string has for one: the
 * password itself, and the whole string quoted (as libpq quotes a URI it
 * cannot parse), never show it.
 */
static void
random_passwords(int rounds)
{
	const char *alphabet = "abcXYZ0189 '\\@%:/=&?#\"-._~";
	size_t		nalpha = strlen(alphabet);

	for (int round = 0; round < rounds; round++)
	{
		char		pw[16];
		size_t		pwlen = 1 + rng(12);
		char		conninfo[256];
		char		message[512];
		size_t		len;
		int			syntax = rng(6);

		for (size_t i = 0; i < pwlen; i++)
			pw[i] = alphabet[rng(nalpha)];
		pw[pwlen] = '\0';
		/* libpq never reads a value with spaces around it */
		if (pw[0] == ' ' || pw[pwlen - 1] == ' ')
			continue;
		switch (syntax)
		{
			case 0:				/* quoted and escaped */
				len = sprintf(conninfo, "host=h password='");
				for (size_t i = 0; i < pwlen; i++)
				{
					if (pw[i] == '\'' || pw[i] == '\\')
						conninfo[len++] = '\\';
					conninfo[len++] = pw[i];
				}
				sprintf(conninfo + len, "' dbname=d");
				break;
			case 1:				/* bare: only without spaces or quotes */
				if (strpbrk(pw, " '\\"))
					continue;
				sprintf(conninfo, "host=h password=%s dbname=d", pw);
				break;
			case 2:				/* URI user:password@, encoded */
				len = sprintf(conninfo, "postgresql://u:");
				for (size_t i = 0; i < pwlen; i++)
					put_encoded(conninfo, &len, pw[i]);
				sprintf(conninfo + len, "@h/db");
				break;
			case 3:				/* URI ?password=, encoded, not last */
				len = sprintf(conninfo, "postgresql://u@h/db?password=");
				for (size_t i = 0; i < pwlen; i++)
					put_encoded(conninfo, &len, pw[i]);
				sprintf(conninfo + len, "&sslmode=require");
				break;
			case 4:				/* URI, unencoded, malformed */
				if (strpbrk(pw, " "))
					continue;
				sprintf(conninfo, "postgresql://admin:%s@[::1", pw);
				break;
			default:			/* a colon instead of '=', last */
				if (strpbrk(pw, " '\\"))
					continue;
				sprintf(conninfo, "host=h user=u password:%s", pw);
				break;
		}
		sprintf(message, "value %s here", pw);
		expect_hidden(conninfo, message, pw);
		sprintf(message, "in URI: \"%s\"", conninfo);
		expect_hidden(conninfo, message, pw);
	}
}

int
main(void)
{
	random_passwords(20000);

	/* the two leaks of supamon_add_project this module was written for */
	expect("host=h user=u password:SECRETPASS",
		   "missing \"=\" after \"password:SECRETPASS\" in connection info string",
		   "missing \"=\" after \"***\" in connection info string", "SECRETPASS", NULL);
	expect("host=h password=SECRET PASS",
		   "missing \"=\" after \"PASS\" in connection info string",
		   "missing \"=\" after \"***\" in connection info string", "PASS", NULL);
	expect("host=h password=SECRET PASS dbname=x",
		   "password SECRET PASS and SECRET",
		   "password *** and ***", "SECRET", "PASS");

	/* a malformed URI is quoted whole */
	expect("postgresql://admin:swordfish9@[::1",
		   "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgresql://admin:swordfish9@[::1\"",
		   "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"***\"",
		   "swordfish9", NULL);
	/* and its password anywhere else, even unquoted */
	expect("postgresql://admin:swordfish9@[::1", "x swordfish9 y", "x *** y", "swordfish9", NULL);
	/* percent-encoded in the URI, decoded in the message, and the reverse */
	expect("postgresql://u:p%40ssw0rd@h/db", "bad p@ssw0rd and p%40ssw0rd", "bad *** and ***", "ssw0rd", NULL);
	expect("postgresql://u:pw1234@h/db?password=q%26quux&sslmode=require",
		   "got q&quux and q%26quux", "got *** and ***", "quux", NULL);
	expect("postgresql://u@h/db?sslpassword=keypass99&x=1", "keypass99", "***", "keypass99", NULL);
	/* a password with '/' or '@', unencoded: libpq's first '@' and the last */
	expect("postgresql://u:pa/ss99@h/db", "\"pa/ss99\" pa/ss99", "\"***\" ***", "ss99", NULL);
	expect("postgresql://u:p@ss99@h/db", "p@ss99 and p", NULL, "p@ss99", NULL);
	expect("postgresql://u@h/db?password=a%zzb", "invalid percent-encoded token: \"a%zzb\"",
		   "invalid percent-encoded token: \"***\"", "a%zzb", NULL);

	/* quotes, backslashes, empty and missing passwords */
	expect("host=h password='it''s' x", "missing \"=\" after \"'s'\" in connection info string",
		   "missing \"=\" after \"***\" in connection info string", "'s'", NULL);
	expect("host=h password='sec ret\\' word' dbname=d", "sec ret' word / sec ret\\' word",
		   NULL, "word", "sec ret");
	expect("host=h password='' dbname=d", "could not connect: fe_sendauth: no password supplied",
		   "could not connect: fe_sendauth: no password supplied", NULL, NULL);
	expect("host=h password= user=bob", "user=bob here", "*** here", "user=bob", NULL);
	expect("host=h password", "invalid connection option", "invalid connection option", NULL, NULL);
	expect("host=h password='unterminated", "x unterminated y", "x *** y", "unterminated", NULL);
	/* at the end, repeated, any case, sslpassword */
	expect("host=h dbname=d password=tail9999", "tail9999!", "***!", "tail9999", NULL);
	expect("host=h password=first111 password=second22 z",
		   "missing \"=\" after \"z\" in connection info string: first111 second22",
		   "missing \"=\" after \"***\" in connection info string: *** ***", "first111", "second22");
	expect("host=h PASSWORD=Hunter22 dbname=x", "invalid connection option \"PASSWORD\" Hunter22",
		   "invalid connection option \"PASSWORD\" ***", "Hunter22", NULL);
	expect("host=h sslpassword = 'key pass phrase' sslmode=require", "phrase and pass and key",
		   "*** and *** and key", "phrase", "pass");
	expect("host=h password = spaced99 port=5", "spaced99", "***", "spaced99", NULL);
	expect("host=h password\tTabbed99", "Tabbed99", "***", "Tabbed99", NULL);

	/* what is no secret stays readable */
	expect("host=db.example.com port=5432 dbname=postgres password=pw99",
		   "connection to server at \"db.example.com\" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"postgres\"",
		   "connection to server at \"***\" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"postgres\"",
		   "pw99", NULL);
	expect("host=h dbname=d password=pw99", "relation \"cron.job_run_details\" does not exist",
		   "relation \"cron.job_run_details\" does not exist", NULL, NULL);
	expect("host=h user=u password=pw99", "invalid connection option \"passwrd\"",
		   "invalid connection option \"passwrd\"", NULL, NULL);
	expect(NULL, "no \"conninfo\" at all", "no \"conninfo\" at all", NULL, NULL);
	expect("host=h", NULL, "", NULL, NULL);
	expect("user=password host=h", "role \"password\"", "role \"password\"", NULL, NULL);
	/* an unterminated quote in the message hides the rest when from the conninfo */
	expect("host=h password=abcd1234 dbname=my-db", "database \"my-db", "database \"***", NULL, NULL);

	/* hints: libpq's parse says what is secret and what may be shown */
	{
		const char *secrets[] = {"s3cr3t"};
		const char *shown[] = {"db.example.com", "my-db"};
		ConninfoMaskHints hints = {secrets, 1, shown, 2};
		char	   *got = ConninfoMask("host=db.example.com dbname=my-db passfile=x password=s3cr3t",
									   "at \"db.example.com\": database \"my-db\" does not exist; s3cr3t",
									   &hints);

		CHECK(got && strcmp(got, "at \"db.example.com\": database \"my-db\" does not exist; ***") == 0,
			  "hints: %s", got ? got : "(null)");
		free(got);
	}
	{
		/* a known value that holds a secret is hidden all the same */
		const char *secrets[] = {"zz99"};
		const char *shown[] = {"host-zz99"};
		ConninfoMaskHints hints = {secrets, 1, shown, 1};
		char	   *got = ConninfoMask("host=host-zz99 password=zz99", "\"host-zz99\"", &hints);

		CHECK(got && strcmp(got, "\"***\"") == 0, "hints overlap: %s", got ? got : "(null)");
		free(got);
	}
	return unit_finish("conninfo_mask");
}
