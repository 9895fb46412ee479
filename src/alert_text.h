/*
 * alert_text.h
 *		The texts of supamon's alerts, shaped for Discord, Telegram and logs,
 *		and the checks of the channel settings: pure C, no backend headers.
 *		The caller turns the results into JSON; nothing here is JSON.
 *
 * Every input string is taken as hostile: any bytes but NUL, any length.
 * Every output is valid UTF-8: a byte that does not start a valid character
 * (overlongs, surrogates and code points past U+10FFFF included), a control
 * character other than tab and newline, and a bidirectional override (which
 * could make "failed" read backwards) each become U+FFFD.  Limits are
 * counted in UTF-16 code units, the most conservative count of the
 * services; where text is cut, it is cut between characters and ends with
 * AT_CUT_MARK.  Empty or blank optional parts are left out like NULL ones.
 *
 * Functions that allocate return NULL (or false) when memory runs out, and
 * never abort.
 */
#ifndef SUPAMON_ALERT_TEXT_H
#define SUPAMON_ALERT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* What ends text that was cut (the same as the backend's SUPAMON_CUT_MARK). */
#define AT_CUT_MARK "... [cut]"

typedef struct AlertInfo
{
	const char *project;		/* never NULL */
	const char *job;			/* NULL: a project-wide alert */
	const char *event;			/* failed, missed, stuck, removed, unreachable,
								 * scheduler_down, paused, api_refused,
								 * recovered, reminder, test, and the
								 * watcher's stale and summary */
	const char *status;			/* the new status (may be NULL) */
	const char *previous;		/* the status before (may be NULL) */
	const char *criticality;	/* critical, important, low (may be NULL) */
	const char *reason;			/* supamon's reason (may be NULL) */
	const char *schedule;		/* cron text (may be NULL) */
	const char *schedule_meaning;	/* "every 5 minutes" (may be NULL) */
	const char *last_run;		/* preformatted (may be NULL) */
	const char *error;			/* the job's raw error text (may be NULL) */
	const char *next_expected;	/* preformatted (may be NULL) */
	const char *during_outage;	/* runs missed while the project was
								 * unreachable, for "recovered" (may be NULL) */
	const char *at;				/* ISO 8601 time of the alert (may be NULL) */
} AlertInfo;

/* Discord's limits, in UTF-16 code units. */
#define AT_MAX_FIELDS 25
#define AT_MAX_EMBEDS 10
#define AT_DISCORD_CONTENT 2000
#define AT_DISCORD_TITLE 256
#define AT_DISCORD_DESCRIPTION 4096
#define AT_DISCORD_FIELD_NAME 256
#define AT_DISCORD_FIELD_VALUE 1024
#define AT_DISCORD_FOOTER 2048
#define AT_DISCORD_TOTAL 6000	/* all embeds of one message together */

/* Telegram's sendMessage limit, counted on the HTML source. */
#define AT_TELEGRAM_MAX 4096

/* The plain line's limit. */
#define AT_PLAIN_MAX 300

typedef struct AtField
{
	char	   *name;
	char	   *value;
	bool		inline_;
} AtField;

typedef struct AtEmbed
{
	char	   *title;
	char	   *description;	/* NULL: none */
	int			color;			/* 0xRRGGBB */
	AtField		fields[AT_MAX_FIELDS];
	int			nfields;
	char	   *footer;
	char	   *timestamp;		/* ISO 8601 (checked), or NULL */
} AtEmbed;

typedef struct AtDiscordMessage
{
	char	   *content;		/* NULL: none */
	AtEmbed		embeds[AT_MAX_EMBEDS];
	int			nembeds;
} AtDiscordMessage;

/*
 * One alert as one embed.  Text that Discord would render as Markdown is
 * escaped, @everyone and @here are defused, and the error's full text sits
 * in a code block that nothing inside it can close.  False: out of memory
 * (out is then empty).
 */
extern bool at_discord_message(const AlertInfo *a, AtDiscordMessage *out);

/*
 * n alerts for one channel in one message: the worst first, content with
 * the counts by event, up to 9 embeds for the worst (shrunk until they fit
 * AT_DISCORD_TOTAL) and a last embed listing the rest one line each, ending
 * with "... and N more" when not all of them fit.
 */
extern bool at_discord_digest(const AlertInfo *const *alerts, int n,
							  AtDiscordMessage *out);

/* Frees what at_discord_message or at_discord_digest put in m; m ends empty. */
extern void at_discord_free(AtDiscordMessage *m);

/*
 * The text of a Telegram sendMessage with parse_mode HTML: < > & escaped in
 * every piece of alert text, no tags but <b>, <i>, <code> and <pre>, at most
 * AT_TELEGRAM_MAX UTF-16 units of HTML source.
 */
extern char *at_telegram_text(const AlertInfo *a);

/* n alerts in one Telegram message: a header with the counts, one line each. */
extern char *at_telegram_digest(const AlertInfo *const *alerts, int n);

/* "myproj/nightly-backup failed: relation "x" does not exist", one line. */
extern char *at_plain_line(const AlertInfo *a);

/*
 * The first meaningful line of a PostgreSQL error text, without its
 * severity (ERROR:, FATAL:, WARNING:, PANIC:), whitespace collapsed, at most
 * maxchars UTF-16 units.  A text with no line beyond a severity is taken
 * whole, on one line; "" for a NULL or blank one.
 */
extern char *at_error_summary(const char *raw, int maxchars);

/*
 * Checks of channel settings: false with a reason in err (always NUL
 * terminated when errlen > 0) that never shows a URL's path or query nor
 * any part of a token.
 *
 * at_check_url: http:// or https:// (any case), a host of letters, digits,
 * - and . or an [IPv6] address, an optional port 1..65535, then an optional
 * /path and ?query; no userinfo, no #fragment, no whitespace, control or
 * non-ASCII byte, at most 2048 bytes.
 */
extern bool at_check_url(const char *url, char *err, size_t errlen);

/* at_check_url, and the path of a webhook: /api[/v<n>]/webhooks/<id>/<token>. */
extern bool at_check_discord_url(const char *url, char *err, size_t errlen);

/* <1-20 digits>:<20-100 of [A-Za-z0-9_-]> */
extern bool at_check_telegram_token(const char *token, char *err, size_t errlen);

/* -?<1-20 digits> (not a negative zero) or @<5-32 of [A-Za-z0-9_], a letter first> */
extern bool at_check_chat_id(const char *chat, char *err, size_t errlen);

/*
 * A URL fit to show: scheme://host[:port], then a slash and four stars
 * when anything followed; four stars alone for anything else.  Like
 * snprintf: writes at most len bytes with the NUL and returns the length
 * of the whole text.
 */
extern size_t at_mask_url(const char *url, char *buf, size_t len);

/*
 * A copy of text with every occurrence of each non-empty secret, and of
 * its %-encoded form (upper or lower case hex), replaced by "****".  Only
 * matches between characters count, so valid UTF-8 stays valid.
 */
extern char *at_scrub(const char *text, const char *const *secrets, int nsecrets);

#endif							/* SUPAMON_ALERT_TEXT_H */
