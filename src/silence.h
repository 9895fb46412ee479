/*
 * silence.h
 *		Silences and maintenance windows (silence.c).
 */
#ifndef SUPAMON_SILENCE_H
#define SUPAMON_SILENCE_H

typedef struct Silences Silences;

#include "datatype/timestamp.h"

/*
 * A project's silences and windows that matter from since on, in the
 * caller's context; SPI connected.
 */
extern Silences *SilencesLoad(const char *project, TimestampTz since);

/*
 * Around a check: which projects have silences, learned once, so that
 * SilencesLoad asks only about those (SPI connected; forgotten at the end
 * of the transaction at the latest, whose memory holds it).
 */
extern void SilencesPrepare(TimestampTz since);
extern void SilencesForget(void);

/*
 * The reason of the silence or window holding job's alerts (NULL job: the
 * project's own) at t, seconds since 1970; NULL if none.  windows_only: only
 * maintenance windows count.  *from and *until (if given): when it took
 * hold (a window: when this opening began) and when it lets go.  Neither
 * kind counts before it was set.
 */
extern const char *SilenceAt(const Silences *s, const char *job, int64 t,
							 bool windows_only, int64 *from, int64 *until);

#endif							/* SUPAMON_SILENCE_H */
