/*
 * fuzz_redact.c
 *		libFuzzer target for the redaction of secrets (src/redact.c), and
 *		for reading what the redacted pg_cron command calls through pg_net
 *		(src/pgnet.c), as supamon does with every command: any
 *		bytes in, and the output checked (a wrong answer aborts like a
 *		crash).  The output buffer is exactly redact_bound() bytes, so
 *		AddressSanitizer catches a write past the bound, and the input is
 *		libFuzzer's exact-sized copy, so it catches a read past len.
 */
#include "pgnet.h"
#include "redact.h"
#include "../unit/utf8_check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		bound = redact_bound(size);
	char	   *once = malloc(bound);
	char	   *twice;
	size_t		n;
	size_t		n2;

	if (once == NULL)
		abort();
	n = redact_secrets((const char *) data, size, once);
	if (n >= bound || once[n] != '\0')
		abort();
	/* valid UTF-8 in, valid UTF-8 out: no character was split */
	if (utf8_valid(data, size) && !utf8_valid((const unsigned char *) once, n))
		abort();

	/* a fixed point: redacting the output again changes nothing */
	twice = malloc(redact_bound(n));
	if (twice == NULL)
		abort();
	n2 = redact_secrets(once, n, twice);
	if (n2 != n || memcmp(once, twice, n) != 0)
		abort();
	free(twice);

	/* what the command calls: bounded strings, consistent answers */
	{
		PnCall		call;
		bool		calls = pn_parse_command(once, &call);

		if (calls != (call.ncalls > 0) ||
			memchr(call.url, '\0', sizeof(call.url)) == NULL ||
			memchr(call.slug, '\0', sizeof(call.slug)) == NULL ||
			strchr(call.url, '?') != NULL ||
			call.timeout_ms < -1 || call.timeout_ms > PN_MAX_TIMEOUT_MS ||
			(!calls && (call.url[0] || call.slug[0])))
			abort();
	}
	free(once);
	return 0;
}
