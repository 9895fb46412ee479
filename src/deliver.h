/*
 * deliver.h
 *		Delivering the alert outbox to Discord, Telegram and webhooks.
 */
#ifndef SUPAMON_DELIVER_H
#define SUPAMON_DELIVER_H

#include "utils/timestamp.h"

typedef struct Deliverer Deliverer;

typedef struct DeliverCounts
{
	int			sent;			/* alerts delivered */
	int			messages;		/* HTTP messages that carried them */
	int			retrying;		/* alerts waiting for a retry (429, 5xx, network) */
	int			dead;			/* alerts given up */
} DeliverCounts;

/*
 * A deliverer lives in CurrentMemoryContext: the worker keeps one for its
 * life (connections and rate limits are remembered), a check makes one.
 */
extern Deliverer *DeliverCreate(void);
extern void DeliverDestroy(Deliverer *d);

/*
 * In a transaction, SPI connected: claims the alerts that are due and whose
 * channel may be sent to now, and starts their requests.  Returns when the
 * next alert will be due or a channel's rate limit ends (0: nothing known).
 */
extern TimestampTz DeliverClaim(Deliverer *d);

/*
 * Starts the claimed requests that their channels' limits allow now; returns
 * when one that waits may go (0: none waits for the clock).
 */
extern TimestampTz DeliverPump(Deliverer *d);

/* Forgets the claimed requests not started yet (their rows are gone). */
extern void DeliverDiscardQueued(Deliverer *d);

/*
 * Whether a claim should follow without waiting: more is due than was
 * claimed, or a failure's retry time is to be learnt.
 */
extern bool DeliverWantsClaim(Deliverer *d);

/* Waits at most timeout_ms for requests, the latch; true when the latch was set. */
extern bool DeliverWait(Deliverer *d, long timeout_ms);
extern bool DeliverHasResults(Deliverer *d);
extern int	DeliverInFlight(Deliverer *d);

/*
 * The heartbeat's GET, beside the alerts: started unless one is in flight;
 * done (then forgotten) with why it failed ("": it did not), never quoting
 * the URL.
 */
extern bool DeliverPingStart(Deliverer *d, const char *url);
extern bool DeliverPingDone(Deliverer *d, char *why, size_t len);

/* In a transaction, SPI connected: records what finished. */
extern void DeliverRecord(Deliverer *d, DeliverCounts *counts);

/*
 * In a transaction, SPI connected: rows left 'sending' (by a worker that
 * stopped mid-send, or by a deadline) become due again.  Returns how many.
 */
extern uint64 DeliverRequeue(void);

/*
 * Delivers what is due now, within supamon.http_timeout: what a check does
 * when no worker delivers for it.  In the caller's transaction, SPI connected.
 */
extern void DeliverNow(DeliverCounts *counts);

/*
 * Why a URL that carries a token (a Discord webhook, the Telegram API) may
 * not be used over plain http (only loopback may), or NULL.
 */
extern const char *DeliverClearTextProblem(const char *url);

#endif							/* SUPAMON_DELIVER_H */
