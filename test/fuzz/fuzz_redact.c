/*
 * fuzz_redact.c
 *		libFuzzer target for the redaction of secrets (src/redact.c): any
 *		bytes in, and the output checked (a wrong answer aborts like a
 *		crash).  The output buffer is exactly redact_bound() bytes, so
 *		AddressSanitizer catches a write past the bound, and the input is
 *		libFuzzer's exact-sized copy, so it catches a read past len.
 */
#include "redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Whether [s, s + n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		l;
		uint32_t	cp;
		uint32_t	min;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			l = 2, cp = c & 0x1F, min = 0x80;
		else if ((c & 0xF0) == 0xE0)
			l = 3, cp = c & 0x0F, min = 0x800;
		else if ((c & 0xF8) == 0xF0)
			l = 4, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < l)
			return false;
		for (size_t k = 1; k < l; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += l;
	}
	return true;
}

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
