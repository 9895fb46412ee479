/*
 * test_redact.c
 *		Unit tests of the redaction of secrets (src/redact.c).  Every case
 *		also checks the bound, the NUL at the returned length and that
 *		redacting the output again changes nothing.
 */
#include "redact.h"
#include "utf8_check.h"
#include "unit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int	cases;

/* Redacts [in, in + len) and compares with [want, want + want_len). */
static void
expect_len(const char *in, size_t len, const char *want, size_t want_len)
{
	size_t		bound = redact_bound(len);
	char	   *out = malloc(bound);
	char	   *again;
	size_t		n;
	size_t		n2;

	cases++;
	n = redact_secrets(in, len, out);
	CHECK(n < bound && out[n] == '\0', "bound %zu, wrote %zu: %s", bound, n, in);
	CHECK(n == want_len && memcmp(out, want, n) == 0,
		  "\n  in:   %s\n  got:  %s\n  want: %s", in, out, want);
	again = malloc(redact_bound(n));
	n2 = redact_secrets(out, n, again);
	CHECK(n2 == n && memcmp(again, out, n) == 0, "not a fixed point: %s -> %s", out, again);
	free(again);
	free(out);
}

#define EXPECT(in, want) expect_len((in), strlen(in), (want), strlen(want))
#define SAME(in) EXPECT((in), (in))

/* xorshift64: the same pseudo-random texts on every run */
static uint64_t rng = 88172645463325252ULL;

static uint32_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng >> 32);
}

/*
 * Texts glued from pieces of secrets and of their syntax, where the rules
 * meet and overlap: bound, NUL, valid UTF-8 kept, fixed point.
 */
static void
check_random_texts(int rounds)
{
	static const char *const pieces[] = {
		"Bearer ", "bearer\t", "Basic ", "Token ", "token", "eyJ", "eyJhbGci",
		".", "apikey", "x-api-key", "password", "PGPASSWORD", "pwd", "secret",
		"authorization", "=", ":", ":=", "=>", "::", "://", "@", "\"", "'",
		"''", "''''", "\\\"", "\\'", "\\", ",", ";", "&", "?", "/", "#", ")",
		"}", "]", "{", "(", " ", "\t", "\n", "null", "sb_secret_", "sk_live_",
		"ghp_", "xoxb-", "bot123456789", ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
		"/api/webhooks/", "12", "/services/T", "/B", "a", "abcdefgh1", "X",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91", "*", "***", "-", "_",
		"u:p@h", "PASSWORD '", "(token)=(", "(id, ", ")", " TO ", "to", "secret(",
		" || ", "||", "E'", "%s", "%1$s", "%L", "-u ", "--user", "=", "user:", "?key", "&sig",
		"AIza", "X-Hub-Signature-256", "cookie", "session", "auth", "'auth', ", "abcdefgh12345678"
	};
	char		in[600];
	char		once[3 * sizeof(in) + 1];
	char		twice[3 * sizeof(once) + 1];
	int			bad = 0;

	for (int r = 0; r < rounds && bad < 5; r++)
	{
		size_t		n = 0;
		size_t		n1;
		size_t		n2;
		int			count = 1 + next_random() % 40;

		for (int k = 0; k < count; k++)
		{
			const char *p = pieces[next_random() % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t		l = strlen(p);

			if (n + l > sizeof(in))
				break;
			memcpy(in + n, p, l);
			n += l;
		}
		n1 = redact_secrets(in, n, once);
		n2 = redact_secrets(once, n1, twice);
		if (n1 >= redact_bound(n) || once[n1] != '\0' ||
			(utf8_valid((unsigned char *) in, n) && !utf8_valid((unsigned char *) once, n1)) ||
			n2 != n1 || memcmp(once, twice, n1) != 0)
		{
			bad++;
			CHECK(false, "random text %d: %.*s -> %s -> %s", r, (int) n, in, once, twice);
		}
	}
	CHECK(bad == 0, "%d random texts failed", bad);
}

/* Redacts n copies of unit and says how long it took, in seconds. */
static double
time_repeated(const char *unit, size_t total, size_t *outlen, char **outp)
{
	size_t		ul = strlen(unit);
	size_t		n = total / ul;
	char	   *in = malloc(n * ul);
	char	   *out = malloc(redact_bound(n * ul));
	clock_t		t0;
	double		secs;

	for (size_t k = 0; k < n; k++)
		memcpy(in + k * ul, unit, ul);
	t0 = clock();
	*outlen = redact_secrets(in, n * ul, out);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	free(in);
	if (outp)
		*outp = out;
	else
		free(out);
	return secs;
}

int
main(void)
{
	/* the Supabase net.http_post of the brief */
	EXPECT("select net.http_post(url := 'https://abc.supabase.co/functions/v1/x', headers := "
		   "'{\"Content-Type\": \"application/json\", \"Authorization\": \"Bearer "
		   "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.abc123_-XYZ\"}'::jsonb)",
		   "select net.http_post(url := 'https://abc.supabase.co/functions/v1/x', headers := "
		   "'{\"Content-Type\": \"application/json\", \"Authorization\": \"Bearer ***\"}'::jsonb)");
	/* the same built with jsonb_build_object, key apart from value */
	EXPECT("headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', 'sbanon12345', "
		   "'Authorization', 'Bearer ' || current_setting('app.key'))",
		   "headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', '***', "
		   "'Authorization', 'Bearer ' || current_setting('app.key'))");

	/* Bearer, Basic, Token */
	EXPECT("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***");
	EXPECT("curl -H 'Authorization: Basic dXNlcjpwYXNz' https://x", "curl -H 'Authorization: Basic ***' https://x");
	EXPECT("got bearer \t tok123, retrying", "got bearer \t ***, retrying");
	EXPECT("BEARER x", "BEARER ***");
	EXPECT("Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "Token ***");
	EXPECT("git clone with token ghx_Abcdefgh12", "git clone with token ***");
	EXPECT("token: Bearer abc def", "token: Bearer *** def");
	EXPECT("(Bearer abc)", "(Bearer ***)");
	SAME("the token has expired");
	SAME("Basic auth failed for the basic plan");
	SAME("ERROR:  invalid input syntax for type json DETAIL:  Token \"abc\" is invalid.");
	SAME("'Bearer ' || k");
	/* a format placeholder is not the token: its argument is, below */
	SAME("format('Bearer %s', k)");
	SAME("{\"Authorization\": \"Bearer %s\"} Bearer %1$s");

	/* the token concatenated to a literal ending with the scheme word */
	EXPECT("jsonb_build_object('Authorization', 'Bearer ' || 'a8f5f167f44f4964e6c998dee827110c')",
		   "jsonb_build_object('Authorization', 'Bearer ' || '***')");
	EXPECT("headers := jsonb_build_object('Authorization', 'Bearer '||'abc', 'x', 'y')",
		   "headers := jsonb_build_object('Authorization', 'Bearer '||'***', 'x', 'y')");
	EXPECT("concat('Bearer ', 'a8f5f167f44f4964e6c998dee827110c')", "concat('Bearer ', '***')");
	EXPECT("format('Bearer %s', 'a8f5f167f44f4964e6c998dee827110c')", "format('Bearer %s', '***')");
	EXPECT("format('Authorization: Bearer %L',\n  'abc')", "format('Authorization: Bearer %L',\n  '***')");
	EXPECT("'Authorization: Bearer ' || 'abc'", "'Authorization: Bearer ' || '***'");
	EXPECT("'Bearer ' || E'abc\\'d'", "'Bearer ' || E'***'");
	EXPECT("'Token ' || 'a8f5f167f44f'", "'Token ' || '***'");
	EXPECT("concat('Basic ', 'dXNlcjpwYXNz')", "concat('Basic ', '***')");
	EXPECT("'Bearer ' || 'abc", "'Bearer ' || '***");	/* cut */
	/* inside an E'' string, and one level down in a literal */
	EXPECT("E'SELECT \\'Bearer \\' || \\'abc\\''", "E'SELECT \\'Bearer \\' || \\'***\\''");
	EXPECT("'SELECT ''Bearer '' || ''abc'''", "'SELECT ''Bearer '' || ''***'''");
	EXPECT("$$SELECT jsonb_build_object(''Authorization'', ''Bearer '' || ''abc'')$$",
		   "$$SELECT jsonb_build_object(''Authorization'', ''Bearer '' || ''***'')$$");
	/* nothing to redact: not a literal, empty, a bare word, prose */
	SAME("'Bearer ' || current_setting('app.key')");
	SAME("jsonb_build_object('Authorization', 'Bearer ' || (select decrypted_secret from v))");
	SAME("'Bearer ' || '' || k");
	SAME("'Bearer ' || 'Bearer ' || k");
	SAME("raise notice 'Token ' || 'expired', x");
	SAME("WHERE kind IN ('token', 'bearer', 'basic')");
	/* a bare Bearer argument followed by a secret key: the key's value goes */
	EXPECT("jsonb_build_object('Authorization', 'Bearer ', 'apikey', 'abc')",
		   "jsonb_build_object('Authorization', 'Bearer ', 'apikey', '***')");

	/* JWTs anywhere */
	EXPECT("anon key eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x0 in the log",
		   "anon key *** in the log");
	EXPECT("[eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.]", "[***]");
	EXPECT("{\"k\":\"eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln\"}", "{\"k\":\"***\"}");
	SAME("eyJhbGci alone is base64 JSON, not a JWT");
	/* cut in the middle: by the end of the input, or before a cut mark */
	EXPECT("\"anon\": \"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xl", "\"anon\": \"***");
	EXPECT("key eyJhbGciOiJI", "key ***");
	EXPECT("key eyJhbGciOiJIUzI1NiJ9.", "key ***");
	EXPECT("key eyJhbGciOiJIUzI1NiJ9.eyJyb2xl... [cut]", "key ***.. [cut]");

	/* key/value pairs */
	EXPECT("{\"apikey\": \"abc\", \"x\": 1}", "{\"apikey\": \"***\", \"x\": 1}");
	EXPECT("apikey=abc", "apikey=***");
	EXPECT("password = 'x y'", "password = '***'");
	EXPECT("PGPASSWORD=abc psql -h db", "PGPASSWORD=*** psql -h db");
	EXPECT("export PGPASSWORD=\"abc\"", "export PGPASSWORD=\"***\"");
	EXPECT("https://x.supabase.co/rest/v1/t?select=*&apikey=abc&x=1",
		   "https://x.supabase.co/rest/v1/t?select=*&apikey=***&x=1");
	EXPECT("https://h/cb#access_token=abc&refresh_token=def;x",
		   "https://h/cb#access_token=***&refresh_token=***;x");
	EXPECT("host=db.x.supabase.co port=5432 user=postgres password=s3cr3t dbname=postgres",
		   "host=db.x.supabase.co port=5432 user=postgres password=*** dbname=postgres");
	EXPECT("dblink_connect('host=h password=s3cr3t')", "dblink_connect('host=h password=***')");
	EXPECT("host=h password='a b\\' c' user=u", "host=h password='***' user=u");
	EXPECT("X-API-Key: abc123", "X-API-Key: ***");
	EXPECT("curl -H \"apikey: abc\" -H 'x-api-key:abc'", "curl -H \"apikey: ***\" -H 'x-api-key:***'");
	EXPECT("api-key:abc", "api-key:***");
	EXPECT("client_secret=abc, passwd=x; pwd=y)", "client_secret=***, passwd=***; pwd=***)");
	EXPECT("{\"service_role_key\":\"abc\",\"private_key\": \"-----BEGIN KEY-----\\nMII\\n\"}",
		   "{\"service_role_key\":\"***\",\"private_key\": \"***\"}");
	EXPECT("access_key = abc secret_key=>'abc' api_key := 'abc'",
		   "access_key = *** secret_key=>'***' api_key := '***'");
	EXPECT("SUPABASE_SERVICE_ROLE_KEY=abc accessToken: \"abc\" secret: x",
		   "SUPABASE_SERVICE_ROLE_KEY=*** accessToken: \"***\" secret: ***");
	EXPECT("{\"authorization\":\"Basic dXNlcjpwYXNz\"}", "{\"authorization\":\"Basic ***\"}");
	EXPECT("{\"Authorization\": \"abc123\"}", "{\"Authorization\": \"***\"}");
	EXPECT("{\"password\": \"a\\\"b\", \"x\": 1}", "{\"password\": \"***\", \"x\": 1}");
	EXPECT("{ \"token\" : \"abc\" }", "{ \"token\" : \"***\" }");
	EXPECT("body := '{\\\"password\\\": \\\"x y\\\"}'", "body := '{\\\"password\\\": \\\"***\\\"}'");
	EXPECT("EXECUTE 'SELECT dblink_connect(''password=''''s3'''' host=h'')'",
		   "EXECUTE 'SELECT dblink_connect(''password=''''***'''' host=h'')'");
	EXPECT("{\"password\": \"abc", "{\"password\": \"***");	/* cut */
	EXPECT("password='abc", "password='***");
	EXPECT("select set_config('app.settings.jwt_secret', 'abc', false)",
		   "select set_config('app.settings.jwt_secret', '***', false)");
	EXPECT("ALTER DATABASE postgres SET \"app.settings.service_role_key\" TO 'abc';",
		   "ALTER DATABASE postgres SET \"app.settings.service_role_key\" TO '***';");
	EXPECT("select vault.create_secret('s3cr3t', 'stripe_key', 'Stripe')",
		   "select vault.create_secret('***', 'stripe_key', 'Stripe')");
	SAME("GRANT SELECT ON token TO anon; select vault.create_secret(v_value)");
	SAME("SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'service_role_key'");
	/* an SQL comparison is redacted too: accepted */
	EXPECT("DELETE FROM s WHERE token = 'x'", "DELETE FROM s WHERE token = '***'");
	/* nothing secret in the value */
	SAME("{\"token\": null, \"secret\": {\"a\": 1}, \"api_key\": [1], \"pwd\": true}");
	SAME("password= , token=\"\", secret=''");
	SAME("{\"Authorization\": \"Bearer \"}");

	/* query parameters that carry keys; code and state are not secrets */
	EXPECT("https://maps.googleapis.com/maps/api/geocode/json?address=x&key=AIzaSyD-abcdefghijklmnopqrstuvwxyz0123",
		   "https://maps.googleapis.com/maps/api/geocode/json?address=x&key=***");
	EXPECT("https://h/p?key=abc123&x=1", "https://h/p?key=***&x=1");
	EXPECT("?access_token=a&token=b&apikey=c&api_key=d&auth=e",
		   "?access_token=***&token=***&apikey=***&api_key=***&auth=***");
	EXPECT("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=abc%2Bdef%3D",
		   "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=***");
	EXPECT("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
		   "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404&signature=x",
		   "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
		   "&X-Amz-Signature=***&signature=***");
	SAME("https://h/cb?code=abc&state=xyz&monkey=1&key");
	SAME("SELECT key, value FROM kv WHERE key = 'a'");
	/* Google API keys anywhere */
	EXPECT("key AIzaSyA1234567890abcdefghijklmnopqrstu used", "key *** used");

	/* header names of secrets: signatures, credentials, auth, cookies, sessions */
	EXPECT("{\"X-Signature\": \"abc\", \"x-webhook-secret\": \"s\", \"X-Hub-Signature-256\": \"sha256=abc\"}",
		   "{\"X-Signature\": \"***\", \"x-webhook-secret\": \"***\", \"X-Hub-Signature-256\": \"***\"}");
	EXPECT("{\"Cookie\": \"session=abc; theme=dark\", \"x-auth\": \"a\", \"credentials\": \"u:p\"}",
		   "{\"Cookie\": \"***\", \"x-auth\": \"***\", \"credentials\": \"***\"}");
	EXPECT("curl -H 'X-Api-Key: abc' -H 'X-Sig: def' -H 'Cookie: session=ghi'",
		   "curl -H 'X-Api-Key: ***' -H 'X-Sig: ***' -H 'Cookie: ***'");
	EXPECT("jsonb_build_object('x-signature', 'abc', 'basic_auth', 'u:p', 'hubSig', 'x')",
		   "jsonb_build_object('x-signature', '***', 'basic_auth', '***', 'hubSig', '***')");
	EXPECT("session=abc123 password2=x", "session=*** password2=***");
	SAME("config=1 oauth=x design=y sha256=abc");
	/* the schema auth and the pool mode session in lists stay */
	SAME("WHERE nspname NOT IN ('auth', 'storage') AND pool_mode IN ('session', 'transaction')");
	SAME("GRANT USAGE ON SCHEMA auth TO postgres; select auth.uid()");

	/* curl basic auth */
	EXPECT("curl -u user:pass https://h/x", "curl -u user:*** https://h/x");
	/* a password that starts like the mark, or with a byte that ends a shell word */
	EXPECT("curl -u admin:***!Hunter2 https://x", "curl -u admin:*** https://x");
	EXPECT("curl -u u+PGPASSWORD:<s3cr3t0,Hx y", "curl -u u+PGPASSWORD:*** y");
	EXPECT("curl --user admin:s3cr3t -X POST", "curl --user admin:*** -X POST");
	EXPECT("curl --user=u:p;echo -u 'a:b c' -u \"x@y.z:q\"", "curl --user=u:***;echo -u 'a:***' -u \"x@y.z:***\"");
	EXPECT("COPY t FROM PROGRAM 'curl -s -u :tok https://h'", "COPY t FROM PROGRAM 'curl -s -u :*** https://h'");
	SAME("date -u +%H:%M; sudo -u postgres psql; sort -u -t: x; curl -u user https://h; curl -u u: x");
	SAME("curl --user-agent a:b");

	/* PASSWORD '...' */
	EXPECT("CREATE ROLE app LOGIN PASSWORD 'abc' VALID UNTIL 'infinity'",
		   "CREATE ROLE app LOGIN PASSWORD '***' VALID UNTIL 'infinity'");
	EXPECT("EXECUTE 'ALTER ROLE x PASSWORD ''abc'''", "EXECUTE 'ALTER ROLE x PASSWORD ''***'''");

	/* a unique violation quotes the key */
	EXPECT("ERROR:  duplicate key value violates unique constraint \"t_token_key\"\n"
		   "DETAIL:  Key (token)=(abc123) already exists.",
		   "ERROR:  duplicate key value violates unique constraint \"t_token_key\"\n"
		   "DETAIL:  Key (token)=(***) already exists.");
	EXPECT("DETAIL:  Key (user_id, \"apiKey\")=(1, k(1)) is not present in table \"k\".",
		   "DETAIL:  Key (user_id, \"apiKey\")=(***) is not present in table \"k\".");
	EXPECT("Key (token)=(abc", "Key (token)=(***");
	SAME("DETAIL:  Key (id)=(5) already exists.");
	SAME("SELECT (token) = (x) FROM t");

	/* URI userinfo passwords */
	EXPECT("postgresql://postgres.abc:p%40ss@aws-0-us-east-1.pooler.supabase.com:6543/postgres",
		   "postgresql://postgres.abc:***@aws-0-us-east-1.pooler.supabase.com:6543/postgres");
	EXPECT("redis://:secret@host", "redis://:***@host");
	EXPECT("postgres://u:p@ss@h/db?password=x", "postgres://u:***@h/db?password=***");
	EXPECT("dblink_connect('postgres://u:pw@h')", "dblink_connect('postgres://u:***@h')");
	SAME("postgres://postgres@db.abc.supabase.co:5432/postgres");

	/* provider key shapes */
	EXPECT("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz", "***");
	EXPECT("stripe sk_live_51HxYz0123456789abc, sk_test_4eC39HqLyjWDarjtT1zdp7dc.",
		   "stripe ***, ***.");
	EXPECT("clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r",
		   "clone https://***@github.com/o/r");
	EXPECT("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
		   "slack ***");
	EXPECT("sbp_0102030405060708090a0b0c0d0e0f1011121314", "***");
	EXPECT("cut sk_live_ab", "cut ***");
	SAME("SELECT * FROM sk_test_results JOIN ghp_ids USING (id)");

	/* supamon's own channels */
	EXPECT("POST https://discord.com/api/webhooks/1234567890/AbC-dEf_123 failed",
		   "POST https://discord.com/api/webhooks/1234567890/*** failed");
	EXPECT("https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
		   "https://api.telegram.org/bot***/sendMessage");
	EXPECT("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
		   "https://hooks.slack.com/services/T00000000/B00000000/***");

	/* plain SQL and messages stay as they are */
	SAME("SELECT count(*) FROM tokens WHERE created_at > now()");
	SAME("VACUUM ANALYZE");
	SAME("CALL refresh_tokens()");
	SAME("UPDATE t SET token_count = 0, password_reset_at = now() WHERE password_hash IS NULL");
	SAME("select token::text, secret FROM api_keys WHERE a != b");
	SAME("ERROR:  password authentication failed for user \"postgres\"");
	SAME("select net.http_get('https://abc.supabase.co/functions/v1/x?select=*')");
	SAME("DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'");

	/* multi-byte UTF-8 around and inside secrets */
	EXPECT("clé=é password=mötdepässe ✓ Bearer ключ", "clé=é password=*** ✓ Bearer ***");
	EXPECT("日本語Bearer abc日本", "日本語Bearer ***");
	EXPECT("{\"password\": \"пароль\"} 🔑", "{\"password\": \"***\"} 🔑");
	EXPECT("ключ=1 token=🔑🔑", "ключ=1 token=***");
	/* invalid bytes are copied, and may be part of a secret */
	EXPECT("\xff\xfepassword=\xff\xfe x\x80", "\xff\xfepassword=*** x\x80");
	/* a text cut inside a character, inside a secret */
	EXPECT("password=m\xc3", "password=***");
	EXPECT("\"secret\": \"\xe2\x82", "\"secret\": \"***");

	/* NULs inside are kept and end a value */
	expect_len("x\0Bearer abc\0y", 14, "x\0Bearer ***\0y", 14);
	expect_len("password=a\0b", 12, "password=***\0b", 14);
	expect_len("\0\0\0", 3, "\0\0\0", 3);

	/* empty input, NULL with length 0 */
	EXPECT("", "");
	{
		char		out[1] = {'x'};

		CHECK(redact_secrets(NULL, 0, out) == 0 && out[0] == '\0', "NULL input");
		CHECK(redact_bound(0) == 1 && redact_bound(10) == 31, "bound");
		CHECK(redact_bound(SIZE_MAX / 2) == SIZE_MAX, "bound overflow");
	}

	/* 1 MB of adversarial repetitions: linear time */
	{
		static const char *const units[] = {
			"Bearer ", "Token ", "password=", "\"password\": \"", "'token', ", "://", "://a:",
			"eyJa.", "PASSWORD ", "x ", "token ", "\\\"", "''", "sk_live_", "@:", "/api/webhooks/1/",
			"(token,", "(token)=(", "'token',", "'Bearer ' || ", "Bearer ', '", "''Bearer '' || ''",
			"'Token ' || 'a", "Bearer %s' || ", "-u ", "-u a:", "?key=", "'Bearer ' || 'Bearer ' || "
		};
		size_t		outlen;
		char	   *out;
		double		secs;
		double		secs4;

		secs = time_repeated("Bearer ", 1 << 20, &outlen, &out);
		/* Bearer Bearer -> Bearer ***, every second Bearer is a token */
		CHECK(outlen > 0 && strncmp(out, "Bearer *** Bearer *** ", 22) == 0, "%.22s", out);
		free(out);
		/* the best of three of each, against a busy machine */
		for (int t = 0; t < 2; t++)
		{
			double		again = time_repeated("Bearer ", 1 << 20, &outlen, NULL);

			secs = again < secs ? again : secs;
		}
		secs4 = time_repeated("Bearer ", 4 << 20, &outlen, NULL);
		for (int t = 0; t < 2; t++)
		{
			double		again = time_repeated("Bearer ", 4 << 20, &outlen, NULL);

			secs4 = again < secs4 ? again : secs4;
		}
		printf("1 MB of \"Bearer \": %.3f s, 4 MB: %.3f s\n", secs, secs4);
		CHECK(secs < 1.0, "1 MB took %.3f s", secs);
		/* a quadratic scan would take 16 times as long, not 4 */
		CHECK(secs4 < 10 * secs + 0.05, "4 MB took %.3f s, 1 MB %.3f s", secs4, secs);
		for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		{
			secs = time_repeated(units[k], 1 << 20, &outlen, NULL);
			CHECK(secs < 1.0, "1 MB of \"%s\" took %.3f s", units[k], secs);
		}
	}

	check_random_texts(200000);

	printf("%d cases and 200000 random texts\n", cases);
	return unit_finish("test_redact");
}
