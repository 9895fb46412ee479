/*
 * unit.h
 *		A tiny test harness for the pure C modules: CHECK counts, the last
 *		line says "N passed, N failed", the exit code is non-zero on failure.
 */
#ifndef SUPAMON_UNIT_H
#define SUPAMON_UNIT_H

#include <stdio.h>

static int	unit_passed;
static int	unit_failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n"); \
		} \
	} while (0)

static int
unit_finish(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}

#endif
