/*
 * utf8_check.h
 *		The tests' own UTF-8 validator, written apart from the code it checks
 *		(unit tests and fuzzers include it).
 */
#ifndef SUPAMON_UTF8_CHECK_H
#define SUPAMON_UTF8_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
