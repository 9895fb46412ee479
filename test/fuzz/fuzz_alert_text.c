/*
 * fuzz_alert_text.c
 *		libFuzzer target for the alert texts (src/alert_text.c): any bytes,
 *		split at 0x00 bytes into the fields of a few alerts, through every
 *		function, with the invariants of alert_check.h checked (a broken one
 *		aborts like a crash).  Fields are repeated to grow the input past
 *		the limits, so cuts happen at every place.
 */
#include "alert_text.h"
#include "../unit/alert_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NFIELDS 14
#define NALERTS 12

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(const char *why)
{
	if (why != NULL)
		abort();
}

/* The next NUL-free field of the input, repeated by its first byte's count. */
static char *
next_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p;
	const uint8_t *z = memchr(s, 0, (size_t) (end - s));
	size_t		n;
	size_t		times = 1;
	char	   *f;

	if (z == NULL)
		z = end;
	n = (size_t) (z - s);
	*p = z < end ? z + 1 : end;
	/* a field starting with 0xFF is repeated to thousands of bytes */
	if (n > 1 && s[0] == 0xFF)
	{
		times = 1 + 8000 / (n - 1);
		s++, n--;
	}
	f = malloc(n * times + 1);
	if (f == NULL)
		abort();
	for (size_t i = 0; i < times; i++)
		memcpy(f + i * n, s, n);
	f[n * times] = '\0';
	return f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	const uint8_t *end = data + size;
	AlertInfo	alerts[NALERTS];
	const AlertInfo *ptrs[NALERTS];
	char	   *own[NALERTS][NFIELDS];
	int			n = 0;
	AtDiscordMessage m;
	char	   *t;
	char		err[128];
	char		masked[64];

	memset(own, 0, sizeof(own));
	do
	{
		AlertInfo  *a = &alerts[n];
		const char **f[NFIELDS] = {&a->project, &a->job, &a->event, &a->status, &a->previous,
			&a->criticality, &a->reason, &a->schedule, &a->schedule_meaning, &a->last_run,
		&a->error, &a->next_expected, &a->during_outage, &a->at};

		memset(a, 0, sizeof(*a));
		for (int i = 0; i < NFIELDS; i++)
		{
			own[n][i] = next_field(&p, end);
			/* an empty field stands for NULL, except the project */
			*f[i] = own[n][i][0] == '\0' && i > 0 ? NULL : own[n][i];
		}
		ptrs[n] = a;
		n++;
	} while (p < end && n < NALERTS);

	for (int i = 0; i < n; i++)
	{
		if (!at_discord_message(&alerts[i], &m) || m.nembeds != 1)
			abort();
		require(ac_check_discord(&m));
		at_discord_free(&m);
		t = at_telegram_text(&alerts[i]);
		require(ac_check_telegram(t));
		free(t);
		t = at_plain_line(&alerts[i]);
		require(ac_check_text(t, AT_PLAIN_MAX, false));
		free(t);
	}
	if (!at_discord_digest(ptrs, n, &m))
		abort();
	require(ac_check_discord(&m));
	if (m.nembeds != (n < AT_MAX_EMBEDS ? n : AT_MAX_EMBEDS))
		abort();
	at_discord_free(&m);
	t = at_telegram_digest(ptrs, n);
	require(ac_check_telegram(t));
	free(t);

	t = at_error_summary(alerts[0].project, (int) (size % 500));
	require(ac_check_text(t, size % 500, false));
	free(t);

	/* the checks never echo their input (a long enough one, to be meaningful) */
	{
		const char *s = alerts[0].project;
		bool		ok[4];

		ok[0] = at_check_url(s, err, sizeof(err));
		if (!ok[0] && strlen(s) >= 8 && strstr(err, s))
			abort();
		ok[1] = at_check_discord_url(s, err, sizeof(err));
		if (ok[1] && !ok[0])
			abort();
		if (!ok[1] && strlen(s) >= 8 && strstr(err, s))
			abort();
		ok[2] = at_check_telegram_token(s, err, sizeof(err));
		if (!ok[2] && strlen(s) >= 8 && strstr(err, s))
			abort();
		ok[3] = at_check_chat_id(s, err, sizeof(err));
		(void) ok[3];
		if (at_mask_url(s, masked, sizeof(masked)) >= sizeof(masked) && strlen(masked) != sizeof(masked) - 1)
			abort();
		require(ac_check_text(masked, sizeof(masked), false));
		/* a masked URL shows no path and no query */
		if (strchr(masked, '?') || (strstr(masked, "://") && strchr(strstr(masked, "://") + 3, '/') &&
									strcmp(strchr(strstr(masked, "://") + 3, '/'), "/****") != 0))
			abort();
	}

	/* scrubbing: valid UTF-8 stays valid, and no secret is left (one with a
	 * star could be made of the mark) */
	{
		const char *secrets[3] = {alerts[0].job, alerts[0].event, alerts[0].status};

		t = at_scrub(alerts[0].reason ? alerts[0].reason : "", secrets, 3);
		if (t == NULL)
			abort();
		if (alerts[0].reason && ac_utf8_valid(alerts[0].reason))
		{
			if (!ac_utf8_valid(t))
				abort();
			for (int k = 0; k < 3; k++)
				if (secrets[k] && secrets[k][0] && ac_utf8_valid(secrets[k]) &&
					strchr(secrets[k], '*') == NULL && strstr(t, secrets[k]))
					abort();
		}
		free(t);
	}

	for (int i = 0; i < n; i++)
		for (int k = 0; k < NFIELDS; k++)
			free(own[i][k]);
	return 0;
}
