/*
 * fuzz_redact.c
 *		libFuzzer target for the redaction of secrets (src/redact.c): any
 *		bytes in, and the output checked (a wrong answer aborts like a
 *		crash).  The output buffer is exactly redact_bound() bytes, so
 *		AddressSanitizer catches a write past the bound, and the input is
 *		libFuzzer's exact-sized copy, so it catches a read past len.
 */
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
	free(once);
	return 0;
}
