/*
 * deliver.c
 *		Delivering the alert outbox: Discord, Telegram and generic webhooks,
 *		with libcurl, several at once, at least once.
 *
 * A round claims the alerts that are due and whose channel may be sent to
 * now (state 'sending', committed before anything leaves, so a worker that
 * dies mid-send finds them again: an alert may arrive twice, never zero
 * times), sends them concurrently, and records each outcome:
 *   2xx		sent;
 *   429		wait what the service asked (Discord's retry_after, Telegram's
 *				parameters.retry_after, Retry-After), not counted as an attempt;
 *   5xx, network errors, timeouts
 *				exponential backoff with jitter, dead after supamon.max_attempts;
 *   other 4xx	dead at once (a Discord 404: the webhook was deleted);
 *				Telegram's migrate_to_chat_id: the channel follows and resends.
 * A Discord webhook or Telegram chat gets one request at a time, in order,
 * within its rate limit (Discord's X-RateLimit-* headers, Telegram's one
 * message a second per chat); when more than supamon.digest_after alerts are
 * due for one, they go as one digest message, worst first.
 *
 * Secrets (webhook URLs, bot tokens, signing secrets) are read from
 * alert_config or the settings when a request is built and never stored in
 * the outbox; what a service or libcurl says is scrubbed of them before it is
 * kept.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "alert_text.h"
#include "deliver.h"
#include "json_read.h"
#include "http.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_send_test_alert);

/* How many requests one generic webhook gets at once (Discord, Telegram: 1). */
#define WEBHOOK_PARALLEL 8
/* Alerts claimed per channel and round (a digest carries at most this many), and in all. */
#define CLAIM_LIMIT 1000
#define CLAIM_TOTAL 5000
/* 429s in a row before one counts as a failed attempt. */
#define MAX_RATE_LIMITED 20
/* A 429 without a usable wait. */
#define DEFAULT_RETRY_AFTER 5.0
/*
 * Telegram: one message per second per chat, counted from when a request
 * leaves; a margin covers the jitter of its arrival.
 */
#define TELEGRAM_CHAT_GAP_MS 1100
/* How much of an error is kept. */
#define ERROR_CHARS 300

/* Settings' channels have no alert_config row: they get keys of their own. */
#define KEY_DISCORD_SETTING (-1)
#define KEY_TELEGRAM_SETTING (-2)

/* One HTTP request, carrying one alert or a digest of several. */
typedef struct Outgoing
{
	HttpRequest http;			/* the request's owner is this */
	MemoryContext cxt;
	int64		key;
	char		kind;			/* 'd', 't', 'w' */
	int64		channel_id;		/* 0 for a setting's channel */
	int			nids;
	int64	   *ids;
	char	   *signature[2];	/* webhooks: the signing headers, or NULLs */
	char	   *chat;			/* Telegram: the chat it goes to */
	int			rate_limited;	/* 429s in a row */
	const char *secrets[16];	/* to scrub from what comes back */
	int			nsecrets;
	struct Outgoing *next;
} Outgoing;

/*
 * A Discord webhook, Telegram chat or generic webhook, with the requests
 * claimed for it (state 'sending') that wait for their turn: claimed once,
 * started as its limits allow, in order.
 */
typedef struct Target
{
	int64		key;			/* alert_config.id or KEY_*_SETTING */
	int			in_flight;
	TimestampTz *not_before;	/* rate limit: its Pace's, shared with channels of the same target */
	char	   *chat_override;	/* Telegram setting's chat after a migration */
	Outgoing   *queue_head;
	Outgoing   *queue_tail;
	bool		no_digest;		/* a digest was refused: one by one from now on */
	bool		more_due;		/* its last claim hit CLAIM_LIMIT: more wait in the outbox */
} Target;

/*
 * When a service may next be sent to, per real target (a webhook URL, a bot
 * and chat), whatever channel rows name it: two rows for one chat share its
 * one message a second.
 */
typedef struct Pace
{
	uint64		identity;		/* hash of the target */
	TimestampTz not_before;
} Pace;

struct Deliverer
{
	MemoryContext cxt;
	HTAB	   *targets;
	HTAB	   *paces;
	HttpClient *http;
	Outgoing   *finished;
	int			queued;			/* requests waiting in the targets' queues */
	TimestampTz deadline;		/* a check's delivery: no request beyond it */
	bool		claim_again;	/* alerts came back to the outbox, due now */
	bool		retry_scheduled;	/* an alert will be due again: when, a claim says */
	MemoryContext ping_cxt;		/* the heartbeat's request, or NULL */
	HttpRequest *ping;
};

/* The owner of a heartbeat request, told apart from alerts' by its address. */
static char ping_owner;

/* What the outbox row says, for the message. */
typedef struct OutRow
{
	int64		id;
	int64		key;
	char		kind;
	int64		channel_id;
	bool		via_setting;
	bool		channel_gone;
	bool		channel_enabled;
	AlertInfo	info;
	char	   *webhook_json;	/* every field, for generic webhooks */
	char	   *url;
	char	   *bot_token;
	char	   *chat_id;
	int64		thread_id;		/* 0: none */
	char	   *signing_secret;
} OutRow;

/* ---------- JSON, with PostgreSQL's jsonb builder ---------- */

static void
jb_key(JsonbParseState **st, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
jb_string(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		return;
	jb_key(st, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
jb_int(JsonbParseState **st, const char *key, int64 value)
{
	JsonbValue	v;

	jb_key(st, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
jb_bool(JsonbParseState **st, const char *key, bool value)
{
	JsonbValue	v;

	jb_key(st, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static char *
jb_finish(JsonbParseState **st)
{
	JsonbValue *root = pushJsonbValue(st, WJB_END_OBJECT, NULL);
	Jsonb	   *jb = JsonbValueToJsonb(root);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

static pg_noinline char *
discord_body(const AtDiscordMessage *m)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_string(&st, "username", "supamon");
	jb_string(&st, "content", m->content);
	jb_key(&st, "embeds");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < m->nembeds; i++)
	{
		const AtEmbed *e = &m->embeds[i];

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		jb_string(&st, "title", e->title);
		jb_string(&st, "description", e->description);
		jb_int(&st, "color", e->color);
		jb_string(&st, "timestamp", e->timestamp);
		if (e->footer)
		{
			jb_key(&st, "footer");
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			jb_string(&st, "text", e->footer);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
		if (e->nfields > 0)
		{
			jb_key(&st, "fields");
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			for (int f = 0; f < e->nfields; f++)
			{
				pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
				jb_string(&st, "name", e->fields[f].name);
				jb_string(&st, "value", e->fields[f].value);
				jb_bool(&st, "inline", e->fields[f].inline_);
				pushJsonbValue(&st, WJB_END_OBJECT, NULL);
			}
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	/* an error text that says @everyone must not ping anyone */
	jb_key(&st, "allowed_mentions");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_key(&st, "parse");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return jb_finish(&st);
}

static pg_noinline char *
telegram_body(const char *chat_id, int64 thread_id, const char *text)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_string(&st, "chat_id", chat_id);
	if (thread_id > 0)
		jb_int(&st, "message_thread_id", thread_id);
	jb_string(&st, "text", text);
	jb_string(&st, "parse_mode", "HTML");
	jb_key(&st, "link_preview_options");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_bool(&st, "is_disabled", true);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return jb_finish(&st);
}

/* The body of m, which is freed (malloc'd by alert_text.c) whatever happens. */
static pg_noinline char *
discord_body_freeing(AtDiscordMessage *m)
{
	char	   *volatile body = NULL;

	PG_TRY();
	{
		body = discord_body(m);
	}
	PG_CATCH();
	{
		at_discord_free(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	at_discord_free(m);
	return body;
}

static pg_noinline char *
telegram_body_freeing(const char *chat_id, int64 thread_id, char *text)
{
	char	   *volatile body = NULL;

	PG_TRY();
	{
		body = telegram_body(chat_id, thread_id, text);
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	return body;
}

/* ---------- what services answer ---------- */

typedef struct AnswerFields
{
	int			depth;
	char	   *field[3];		/* the field being read at depths 1 and 2 */
	double		retry_after;	/* Discord: retry_after; Telegram: parameters.retry_after */
	char	   *migrate_to;		/* Telegram: parameters.migrate_to_chat_id */
	char	   *message;		/* Discord: message; Telegram: description */
	char	   *message_id;		/* Discord: id; Telegram: result.message_id */
} AnswerFields;

static SEM_RETURN_TYPE
answer_object_start(void *state)
{
	((AnswerFields *) state)->depth++;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
answer_object_end(void *state)
{
	((AnswerFields *) state)->depth--;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
answer_field_start(void *state, char *fname, bool isnull)
{
	AnswerFields *a = state;

	if (a->depth >= 1 && a->depth <= 2)
		a->field[a->depth] = fname;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
answer_scalar(void *state, char *token, JsonTokenType type)
{
	AnswerFields *a = state;
	const char *f1 = a->field[1];

	if (a->depth == 1 && f1)
	{
		if (strcmp(f1, "retry_after") == 0 && type == JSON_TOKEN_NUMBER)
			a->retry_after = strtod(token, NULL);
		else if ((strcmp(f1, "message") == 0 || strcmp(f1, "description") == 0) &&
				 type == JSON_TOKEN_STRING)
			a->message = token;
		else if (strcmp(f1, "id") == 0 && type == JSON_TOKEN_STRING)
			a->message_id = token;
	}
	else if (a->depth == 2 && f1 && a->field[2])
	{
		if (strcmp(f1, "parameters") == 0 && strcmp(a->field[2], "retry_after") == 0 &&
			type == JSON_TOKEN_NUMBER)
			a->retry_after = strtod(token, NULL);
		else if (strcmp(f1, "parameters") == 0 &&
				 strcmp(a->field[2], "migrate_to_chat_id") == 0 && type == JSON_TOKEN_NUMBER)
			a->migrate_to = token;
		else if (strcmp(f1, "result") == 0 && strcmp(a->field[2], "message_id") == 0 &&
				 type == JSON_TOKEN_NUMBER)
			a->message_id = token;
	}
	SEM_RETURN;
}

/*
 * Reads the few fields supamon needs from an answer, with PostgreSQL's JSON
 * parser; an answer that is not JSON (or was cut) yields nothing.
 */
static void
parse_answer(const char *body, size_t len, AnswerFields *out)
{
	JsonSemAction sem;

	memset(out, 0, sizeof(*out));
	out->retry_after = -1;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = out;
	sem.object_start = answer_object_start;
	sem.object_end = answer_object_end;
	sem.object_field_start = answer_field_start;
	sem.scalar = answer_scalar;
	if (!SupamonJsonParse(body, len, 32, &sem))
	{
		memset(out, 0, sizeof(*out));
		out->retry_after = -1;
	}
	if (out->migrate_to && (strlen(out->migrate_to) > 20 ||
							strspn(out->migrate_to, "-0123456789") != strlen(out->migrate_to)))
		out->migrate_to = NULL;
	if (out->message_id && strlen(out->message_id) > 40)
		out->message_id = NULL;
}

/* ---------- building requests ---------- */

static Target *
get_target(Deliverer *d, int64 key)
{
	bool		found;
	Target	   *t = hash_search(d->targets, &key, HASH_ENTER, &found);

	if (!found)
	{
		t->in_flight = 0;
		t->not_before = NULL;
		t->chat_override = NULL;
		t->queue_head = t->queue_tail = NULL;
		t->no_digest = false;
		t->more_due = false;
	}
	return t;
}

/*
 * Plain http carries a token in the clear: only to this machine (tests, a
 * local relay).  NULL, or why not.
 */
const char *
DeliverClearTextProblem(const char *url)
{
	static const char *const loopback[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};

	if (pg_strncasecmp(url, "http://", 7) != 0)
		return NULL;
	for (int i = 0; i < (int) lengthof(loopback); i++)
	{
		size_t		n = strlen(loopback[i]);

		if (pg_strncasecmp(url, loopback[i], n) == 0 &&
			(url[n] == '\0' || url[n] == ':' || url[n] == '/' || url[n] == '?'))
			return NULL;
	}
	return "plain http (the token would travel in the clear) is only for 127.0.0.1, localhost and [::1]";
}

/*
 * Why a row's channel cannot be sent to (its configuration is bad), or NULL;
 * never quoting a secret.
 */
static char *
channel_problem(OutRow *r, const char *telegram_api)
{
	char		err[256];

	if (r->channel_gone)
		return pstrdup("its channel was removed");
	if (!r->channel_enabled)
		return pstrdup("its channel is disabled");
	switch (r->kind)
	{
		case 'd':
			if (r->url == NULL || r->url[0] == '\0')
				return pstrdup(r->via_setting ? "supamon.discord_webhook_url is not set" :
							   "the channel has no webhook URL");
			if (!at_check_discord_url(r->url, err, sizeof(err)))
				return psprintf("bad Discord webhook URL: %s", err);
			if (DeliverClearTextProblem(r->url))
				return psprintf("bad Discord webhook URL: %s", DeliverClearTextProblem(r->url));
			break;
		case 't':
			if (r->bot_token == NULL || r->bot_token[0] == '\0' ||
				r->chat_id == NULL || r->chat_id[0] == '\0')
				return pstrdup(r->via_setting ?
							   "supamon.telegram_bot_token and supamon.telegram_chat_id must both be set" :
							   "the channel has no bot token or chat id");
			if (!at_check_telegram_token(r->bot_token, err, sizeof(err)))
				return psprintf("bad Telegram bot token: %s", err);
			if (!at_check_chat_id(r->chat_id, err, sizeof(err)))
				return psprintf("bad Telegram chat id: %s", err);
			if (!at_check_url(telegram_api, err, sizeof(err)))
				return psprintf("bad supamon.telegram_api_url: %s", err);
			if (DeliverClearTextProblem(telegram_api))
				return psprintf("bad supamon.telegram_api_url: %s", DeliverClearTextProblem(telegram_api));
			break;
		default:
			if (r->url == NULL || !at_check_url(r->url, err, sizeof(err)))
				return psprintf("bad webhook URL: %s", r->url ? err : "none");
			break;
	}
	return NULL;
}

/*
 * The signing headers of a webhook's body.  Computed when the request is
 * built, in a transaction: PostgreSQL's HMAC needs a resource owner.
 */
static void
sign_body(Outgoing *o, const char *secret)
{
	pg_hmac_ctx *ctx;
	uint8		mac[32];
	char		hex[65];
	char	   *stamp = psprintf(INT64_FORMAT, (int64) time(NULL));
	bool		ok;

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	/* the timestamp is signed with the body: a replayed request is stale */
	ok = pg_hmac_init(ctx, (const uint8 *) secret, strlen(secret)) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) stamp, strlen(stamp)) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) ".", 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) o->http.body, o->http.body_len) == 0 &&
		pg_hmac_final(ctx, mac, sizeof(mac)) == 0;
	pg_hmac_free(ctx);
	if (!ok)
		ereport(ERROR, (errmsg("supamon: could not sign a webhook body")));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	o->signature[0] = psprintf("X-Supamon-Timestamp: %s", stamp);
	o->signature[1] = psprintf("X-Supamon-Signature: sha256=%s", hex);
}

/*
 * A URL as secrets to scrub: whole, and its path (with the query), which is
 * where a webhook's token is, as libcurl or a service might quote either.
 */
static void
add_url_secrets(Outgoing *o, const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *path = scheme_end ? strpbrk(scheme_end + 3, "/?") : NULL;

	o->secrets[o->nsecrets++] = pstrdup(url);
	if (path && strlen(path) > 1)
		o->secrets[o->nsecrets++] = pstrdup(path);
	/* and any long piece of it alone (a service may quote just its token) */
	for (const char *p = path; p && *p && o->nsecrets < (int) lengthof(o->secrets) - 1;)
	{
		size_t		n;

		p += strspn(p, "/?&=");
		n = strcspn(p, "/?&=");
		if (n >= 16)
			o->secrets[o->nsecrets++] = pnstrdup(p, n);
		p += n;
	}
}

/*
 * The request for rows[0..n) (one channel), in its own memory context.
 */
static Outgoing *
build_outgoing(MemoryContext parent, OutRow **rows, int n, const char *chat_override,
			   const char *telegram_api)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "supamon alert request",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Outgoing   *o = palloc0(sizeof(Outgoing));
	OutRow	   *r = rows[0];
	char	   *body;

	o->cxt = cxt;
	o->http.owner = o;
	o->key = r->key;
	o->kind = r->kind;
	o->channel_id = r->via_setting ? 0 : r->channel_id;
	o->nids = n;
	o->ids = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		o->ids[i] = rows[i]->id;

	if (r->kind == 'd')
	{
		AtDiscordMessage m;
		bool		ok;

		memset(&m, 0, sizeof(m));
		if (n == 1)
			ok = at_discord_message(&r->info, &m);
		else
		{
			const AlertInfo **infos = palloc(sizeof(AlertInfo *) * n);

			for (int i = 0; i < n; i++)
				infos[i] = &rows[i]->info;
			ok = at_discord_digest(infos, n, &m);
		}
		if (!ok)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		body = discord_body_freeing(&m);
		/* ?wait=true: Discord answers with the message, and its id */
		o->http.url = psprintf("%s%swait=true", r->url, strchr(r->url, '?') ? "&" : "?");
		add_url_secrets(o, r->url);
	}
	else if (r->kind == 't')
	{
		char	   *text;
		const char *chat = chat_override ? chat_override : r->chat_id;
		size_t		api_len = strlen(telegram_api);

		if (n == 1)
			text = at_telegram_text(&r->info);
		else
		{
			const AlertInfo **infos = palloc(sizeof(AlertInfo *) * n);

			for (int i = 0; i < n; i++)
				infos[i] = &rows[i]->info;
			text = at_telegram_digest(infos, n);
		}
		if (text == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		body = telegram_body_freeing(chat, r->thread_id, text);
		while (api_len > 0 && telegram_api[api_len - 1] == '/')
			api_len--;
		o->http.url = psprintf("%.*s/bot%s/sendMessage", (int) api_len, telegram_api,
							   r->bot_token);
		o->secrets[o->nsecrets++] = pstrdup(r->bot_token);
		o->chat = pstrdup(chat);
	}
	else
	{
		body = pstrdup(r->webhook_json);
		o->http.url = pstrdup(r->url);
		add_url_secrets(o, r->url);
	}
	o->http.body = body;
	o->http.body_len = strlen(body);
	if (r->kind == 'w' && r->signing_secret && r->signing_secret[0])
	{
		sign_body(o, r->signing_secret);
		o->secrets[o->nsecrets++] = pstrdup(r->signing_secret);
	}
	MemoryContextSwitchTo(old);
	return o;
}

/* ---------- claiming ---------- */

static void
fill_row(OutRow *r, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d;
	char	   *channel = SPI_getvalue(tup, desc, 2);

	r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	r->channel_id = isnull ? 0 : DatumGetInt64(d);
	r->via_setting = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	r->kind = strcmp(channel, "discord") == 0 ? 'd' : strcmp(channel, "telegram") == 0 ? 't' : 'w';
	r->info.project = SPI_getvalue(tup, desc, 5);
	/* the watcher's messages are about supamon itself */
	if (r->info.project == NULL)
		r->info.project = "supamon";
	r->info.job = SPI_getvalue(tup, desc, 6);
	r->info.event = SPI_getvalue(tup, desc, 7);
	r->info.criticality = SPI_getvalue(tup, desc, 8);
	r->info.status = SPI_getvalue(tup, desc, 9);
	r->info.previous = SPI_getvalue(tup, desc, 10);
	r->info.reason = SPI_getvalue(tup, desc, 11);
	r->info.schedule = SPI_getvalue(tup, desc, 12);
	r->info.schedule_meaning = SPI_getvalue(tup, desc, 13);
	r->info.last_run = SPI_getvalue(tup, desc, 14);
	r->info.error = SPI_getvalue(tup, desc, 15);
	r->info.next_expected = SPI_getvalue(tup, desc, 16);
	r->info.during_outage = SPI_getvalue(tup, desc, 17);
	r->info.at = SPI_getvalue(tup, desc, 18);
	r->webhook_json = SPI_getvalue(tup, desc, 19);
	d = SPI_getbinval(tup, desc, 20, &isnull);
	r->channel_gone = !r->via_setting && isnull;
	r->channel_enabled = r->via_setting || (!isnull && DatumGetBool(d));
	if (r->via_setting)
	{
		if (r->kind == 'd')
			r->url = supamon_discord_webhook_url;
		else
		{
			r->bot_token = supamon_telegram_bot_token;
			r->chat_id = supamon_telegram_chat_id;
		}
		r->key = r->kind == 'd' ? KEY_DISCORD_SETTING : KEY_TELEGRAM_SETTING;
	}
	else
	{
		r->url = SPI_getvalue(tup, desc, 21);
		r->bot_token = SPI_getvalue(tup, desc, 22);
		r->chat_id = SPI_getvalue(tup, desc, 23);
		d = SPI_getbinval(tup, desc, 24, &isnull);
		r->thread_id = isnull ? 0 : DatumGetInt64(d);
		r->signing_secret = SPI_getvalue(tup, desc, 25);
		r->key = r->channel_id;
	}
}

static Datum
id_array(int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static SupamonStatement update_failed = {
	.sql = "UPDATE supamon.alert_outbox SET"
		" state = CASE WHEN $2 OR attempts + $3 >= $7 THEN 'dead' ELSE 'pending' END,"
		" attempts = attempts + $3,"
		" next_attempt_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => CASE WHEN $4 >= 0 THEN $4"
		"   ELSE least($8 * pg_catalog.power(2, least(attempts, 30)), 21600)"
		"        * (0.5 + pg_catalog.random() / 2) END),"
		" last_http_status = $5, last_error = $6"
		" WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 8, .types = {INT8ARRAYOID, BOOLOID, INT4OID, FLOAT8OID, INT4OID, TEXTOID, INT4OID,
	INT4OID},
	.expect = SPI_OK_UPDATE
};

/* rows -> state, with an error, counted as an attempt or not */
static void
record_failure(int64 *ids, int n, bool dead, bool counts, double wait_seconds,
			   int http_status, const char *error)
{
	Datum		values[8];
	char		nulls[9] = "        ";
	values[0] = id_array(ids, n);
	values[1] = BoolGetDatum(dead);
	values[2] = Int32GetDatum(counts ? 1 : 0);
	values[3] = Float8GetDatum(wait_seconds);
	values[4] = Int32GetDatum(http_status);
	nulls[4] = http_status > 0 ? ' ' : 'n';
	values[5] = CStringGetTextDatum(error);
	values[6] = Int32GetDatum(supamon_max_attempts);
	values[7] = Int32GetDatum(supamon_retry_backoff);
	/*
	 * Backoff: retry_backoff * 2^(attempts so far), at most six hours, times
	 * a jitter in [0.5, 1) so that alerts failed together do not come back
	 * together.
	 */
	SupamonRun(&update_failed, values, nulls);
}

static SupamonStatement update_sending = {
	.sql = "UPDATE supamon.alert_outbox SET state = 'sending'"
		" WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 1, .types = {INT8ARRAYOID},
	.expect = SPI_OK_UPDATE
};

static void
mark_sending(int64 *ids, int n)
{
	Datum		values[1] = {id_array(ids, n)};

	SupamonRun(&update_sending, values, NULL);
}

static void
enqueue(Deliverer *d, Target *t, Outgoing *o, bool at_head)
{
	if (at_head)
	{
		o->next = t->queue_head;
		t->queue_head = o;
		if (t->queue_tail == NULL)
			t->queue_tail = o;
	}
	else
	{
		o->next = NULL;
		if (t->queue_tail)
			t->queue_tail->next = o;
		else
			t->queue_head = o;
		t->queue_tail = o;
	}
	d->queued++;
}

static void
claim_rows(Deliverer *d, Target *t, OutRow **rows, int n)
{
	const char *api = supamon_telegram_api_url ? supamon_telegram_api_url : "";
	Outgoing   *o = build_outgoing(d->cxt, rows, n, t->chat_override, api);

	mark_sending(o->ids, n);
	enqueue(d, t, o, false);
}

static void
start_outgoing(Deliverer *d, Target *t, Outgoing *o)
{
	MemoryContext old = MemoryContextSwitchTo(o->cxt);

	long		timeout = supamon_http_timeout;

	/* within a check's deadline, so that curl's timeout is what ends it */
	if (d->deadline != 0)
	{
		long		left = (long) ((d->deadline - GetCurrentTimestamp()) / 1000);

		timeout = Max(Min(timeout, left), 100);
	}
	if (o->signature[0])
	{
		HttpAddHeader(&o->http, o->signature[0]);
		HttpAddHeader(&o->http, o->signature[1]);
	}
	HttpStart(d->http, &o->http, timeout);
	MemoryContextSwitchTo(old);
	t->in_flight++;
	if (o->kind == 't')
		*t->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), TELEGRAM_CHAT_GAP_MS);
}

/*
 * Starts what the targets' limits allow now.  Returns when a target that
 * waits may go on (0: none waits for the clock).  No transaction needed.
 */
TimestampTz
DeliverPump(Deliverer *d)
{
	HASH_SEQ_STATUS seq;
	Target	   *t;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = 0;

	if (d->queued == 0)
		return 0;
	hash_seq_init(&seq, d->targets);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		while (t->queue_head && DeliverInFlight(d) < supamon_max_sends)
		{
			Outgoing   *o = t->queue_head;
			int			parallel = o->kind == 'w' ? WEBHOOK_PARALLEL : 1;

			if (t->in_flight >= parallel)
				break;
			if (*t->not_before > now)
			{
				if (wake == 0 || *t->not_before < wake)
					wake = *t->not_before;
				break;
			}
			t->queue_head = o->next;
			if (t->queue_head == NULL)
				t->queue_tail = NULL;
			o->next = NULL;
			d->queued--;
			start_outgoing(d, t, o);
		}
	}
	return wake;
}

Deliverer *
DeliverCreate(void)
{
	Deliverer  *d = palloc0(sizeof(Deliverer));
	HASHCTL		ctl;

	d->cxt = CurrentMemoryContext;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(Target);
	ctl.hcxt = d->cxt;
	d->targets = hash_create("supamon alert targets", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(Pace);
	d->paces = hash_create("supamon alert paces", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	/* curl may open two sockets a request (happy eyeballs), and resolves */
	d->http = HttpClientCreate(4 * 200 + 16);
	return d;
}

void
DeliverDestroy(Deliverer *d)
{
	if (d)
		HttpClientDestroy(d->http);
}

/* Alert requests in flight: the heartbeat's takes no slot of supamon.max_sends. */
int
DeliverInFlight(Deliverer *d)
{
	return HttpInFlight(d->http) - (d->ping != NULL && !d->ping->done ? 1 : 0);
}

/* The pace of the real target of a row (its URL, or its bot and chat). */
static TimestampTz *
pace_for(Deliverer *d, const OutRow *r, const char *chat_override)
{
	char	   *identity = r->kind == 't' ?
		psprintf("t %s %s", r->bot_token, chat_override ? chat_override : r->chat_id) :
		psprintf("%c %s", r->kind, r->url);
	uint64		h = hash_bytes_extended((const unsigned char *) identity, strlen(identity), 0);
	bool		found;
	Pace	   *p = hash_search(d->paces, &h, HASH_ENTER, &found);

	if (!found)
		p->not_before = 0;
	return &p->not_before;
}

/* The channels with claimed requests still waiting, as an int8[]. */
static Datum
busy_keys(Deliverer *d)
{
	HASH_SEQ_STATUS seq;
	Target	   *t;
	int64	   *keys = palloc(sizeof(int64) * (hash_get_num_entries(d->targets) + 1));
	int			n = 0;

	hash_seq_init(&seq, d->targets);
	while ((t = hash_seq_search(&seq)) != NULL)
		if (t->queue_head)
			keys[n++] = t->key;
	return id_array(keys, n);
}

static SupamonStatement claim_due = {
	.sql = "SELECT o.id, o.channel, o.channel_id, o.via_setting, o.project_name, o.job_name,"
		" o.event, o.criticality, o.details->>'status', o.details->>'previous',"
		" o.details->>'reason', o.details->>'schedule', o.details->>'schedule_meaning',"
		" o.details->>'last_run', o.details->>'error', o.details->>'next_expected',"
		" o.details->>'during_outage',"
		" pg_catalog.to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" (coalesce(o.details, '{}'::jsonb) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
		"   'id', o.id, 'event', o.event, 'project', o.project_name, 'job', o.job_name,"
		"   'job_type', o.job_type, 'criticality', o.criticality, 'message', o.message,"
		"   'created_at', o.created_at))::text,"
		" c.enabled, c.webhook_url, c.bot_token, c.chat_id, c.message_thread_id, c.signing_secret"
		" FROM supamon.alert_outbox o LEFT JOIN supamon.alert_config c ON c.id = o.channel_id"
		" WHERE o.state = 'pending' AND o.id OPERATOR(pg_catalog.=) ANY (ARRAY("
		"   SELECT id FROM (SELECT id, pg_catalog.row_number() OVER (PARTITION BY key ORDER BY id) AS n"
		"     FROM (SELECT id, CASE WHEN via_setting THEN CASE channel WHEN 'discord' THEN -1 ELSE -2 END"
		"                      ELSE coalesce(channel_id, 0) END AS key"
		"           FROM supamon.alert_outbox"
		"           WHERE state = 'pending' AND next_attempt_at <= pg_catalog.clock_timestamp()) k"
		"     WHERE key OPERATOR(pg_catalog.<>) ALL ($2)) r"
		"   WHERE n <= $1))"
		" ORDER BY o.id LIMIT $3"
		" FOR UPDATE OF o SKIP LOCKED",
	.nargs = 3, .types = {INT4OID, INT8ARRAYOID, INT4OID},
	.expect = SPI_OK_SELECT
};

static SupamonStatement read_next_retry = {
	.sql = "SELECT pg_catalog.min(next_attempt_at) FROM supamon.alert_outbox"
		" WHERE state = 'pending' AND next_attempt_at > pg_catalog.clock_timestamp()",
	.expect = SPI_OK_SELECT
};

TimestampTz
DeliverClaim(Deliverer *d)
{
	SPITupleTable *tab;
	uint64		nrows;
	OutRow	   *rows;
	OutRow	  **group;
	TimestampTz wake = 0;
	const char *api = supamon_telegram_api_url ? supamon_telegram_api_url : "";
	MemoryContext round_cxt = AllocSetContextCreate(CurrentMemoryContext, "supamon claim",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round_cxt);
	uint64		i = 0;
	Datum		values[3];

	/*
	 * Per channel, the first CLAIM_LIMIT due; none for a channel that still
	 * has claimed requests waiting (a backlog behind a slow webhook must not
	 * hold a critical alert for another channel back).
	 */
	values[0] = Int32GetDatum(CLAIM_LIMIT);
	values[1] = busy_keys(d);
	values[2] = Int32GetDatum(CLAIM_TOTAL);
	SupamonRun(&claim_due, values, NULL);
	tab = SPI_tuptable;
	nrows = SPI_processed;
	d->retry_scheduled = false;
	/* the total cut some channel short: claim again at once */
	d->claim_again = nrows >= CLAIM_TOTAL;
	rows = palloc0(sizeof(OutRow) * Max(nrows, 1));
	for (i = 0; i < nrows; i++)
		fill_row(&rows[i], tab->vals[i], tab->tupdesc);

	/*
	 * Group by channel in id order (the rows are few hundred at most: a
	 * quadratic pass is cheaper than sorting them), and start what each
	 * channel may take now.
	 */
	group = palloc(sizeof(OutRow *) * Max(nrows, 1));
	for (i = 0; i < nrows; i++)
	{
		OutRow	   *r = &rows[i];
		Target	   *t;
		int			n = 0;
		char	   *problem;

		if (r->id == 0)
			continue;			/* already taken into an earlier group */
		for (uint64 j = i; j < nrows; j++)
			if (rows[j].id != 0 && rows[j].key == r->key && rows[j].kind == r->kind)
				group[n++] = &rows[j];

		problem = channel_problem(r, api);
		if (problem)
		{
			int64	   *ids = palloc(sizeof(int64) * n);

			for (int k = 0; k < n; k++)
				ids[k] = group[k]->id;
			record_failure(ids, n, true, true, 0, 0, problem);
		}
		else
		{
			t = get_target(d, r->key);
			t->not_before = pace_for(d, r, t->chat_override);
			t->more_due = n >= CLAIM_LIMIT;
			if (r->kind != 'w' && supamon_digest_after > 0 && !t->no_digest &&
				n > supamon_digest_after)
				claim_rows(d, t, group, n);
			else
				for (int k = 0; k < n; k++)
					claim_rows(d, t, &group[k], 1);
		}
		for (int k = 0; k < n; k++)
			group[k]->id = 0;
	}

	/* when the next retry falls due */
	if (SupamonRun(&read_next_retry, NULL, NULL) == 1)
	{
		bool		isnull;
		Datum		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && (wake == 0 || DatumGetTimestampTz(next) < wake))
			wake = DatumGetTimestampTz(next);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round_cxt);
	return wake;
}

/* ---------- waiting and recording ---------- */

bool
DeliverWait(Deliverer *d, long timeout_ms)
{
	bool		latch = HttpWait(d->http, timeout_ms);
	HttpRequest *req;

	while ((req = HttpNextDone(d->http)) != NULL)
	{
		Outgoing   *o = req->owner;

		if (req->owner == &ping_owner)
			continue;			/* DeliverPingDone reads it */

		o->next = d->finished;
		d->finished = o;
	}
	return latch;
}

/*
 * Starts a GET of the heartbeat URL beside the alerts, unless one is in
 * flight (false then).
 */
bool
DeliverPingStart(Deliverer *d, const char *url)
{
	MemoryContext old;

	if (d->ping_cxt != NULL)
		return false;
	d->ping_cxt = AllocSetContextCreate(d->cxt, "supamon heartbeat", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(d->ping_cxt);
	d->ping = palloc0(sizeof(HttpRequest));
	d->ping->url = pstrdup(url);
	d->ping->owner = &ping_owner;
	PG_TRY();
	{
		HttpStart(d->http, d->ping, supamon_http_timeout);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(d->ping_cxt);
		d->ping_cxt = NULL;
		d->ping = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Whether the heartbeat's request finished (then forgotten) and, when it
 * was no 2xx, why ("" otherwise), in words that never quote the URL.
 */
bool
DeliverPingDone(Deliverer *d, char *why, size_t len)
{
	if (d->ping == NULL || !d->ping->done)
		return false;
	why[0] = '\0';
	if (d->ping->result != CURLE_OK)
		snprintf(why, len, "%s", curl_easy_strerror(d->ping->result));
	else if (d->ping->status < 200 || d->ping->status > 299)
		snprintf(why, len, "it answered HTTP %ld", d->ping->status);
	MemoryContextDelete(d->ping_cxt);
	d->ping_cxt = NULL;
	d->ping = NULL;
	return true;
}

/*
 * Forgets the requests waiting in the queues (the extension was dropped:
 * their rows are gone).
 */
void
DeliverDiscardQueued(Deliverer *d)
{
	HASH_SEQ_STATUS seq;
	Target	   *t;

	hash_seq_init(&seq, d->targets);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		while (t->queue_head)
		{
			Outgoing   *o = t->queue_head;

			t->queue_head = o->next;
			MemoryContextDelete(o->cxt);
		}
		t->queue_tail = NULL;
	}
	d->queued = 0;
}

bool
DeliverWantsClaim(Deliverer *d)
{
	HASH_SEQ_STATUS seq;
	Target	   *t;
	bool		wants = d->claim_again || d->retry_scheduled;

	/* a channel whose claim was full, once its queue has run dry */
	hash_seq_init(&seq, d->targets);
	while ((t = hash_seq_search(&seq)) != NULL)
		if (t->more_due && t->queue_head == NULL)
			wants = true;
	return wants;
}

bool
DeliverHasResults(Deliverer *d)
{
	return d->finished != NULL;
}

/* What a service or libcurl said, without secrets, cut, valid text. */
static char *
scrubbed(Outgoing *o, const char *what)
{
	char	   *s = at_scrub(what, o->secrets, o->nsecrets);
	char	   *copy;

	if (s == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	copy = pstrdup(s);
	free(s);
	return SupamonRedacted(copy, ERROR_CHARS);
}

static SupamonStatement update_sent = {
	.sql = "UPDATE supamon.alert_outbox SET state = 'sent', sent_at = pg_catalog.clock_timestamp(),"
		" attempts = attempts + 1, last_http_status = $2, last_error = NULL,"
		" delivery_id = (SELECT pg_catalog.nextval('supamon.alert_delivery_seq')),"
		" delivered_with = $3, remote_message_id = $4"
		" WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 4, .types = {INT8ARRAYOID, INT4OID, INT4OID, TEXTOID},
	.expect = SPI_OK_UPDATE
};

static void
record_sent(Outgoing *o, long status, const char *remote_id)
{
	Datum		values[4];
	char		nulls[5] = "    ";

	values[0] = id_array(o->ids, o->nids);
	values[1] = Int32GetDatum((int32) status);
	values[2] = Int32GetDatum(o->nids);
	values[3] = remote_id ? CStringGetTextDatum(remote_id) : (Datum) 0;
	nulls[3] = remote_id ? ' ' : 'n';
	SupamonRun(&update_sent, values, nulls);
}

static SupamonStatement update_chat = {
	.sql = "UPDATE supamon.alert_config SET chat_id = $2 WHERE id = $1",
	.nargs = 2, .types = {INT8OID, TEXTOID},
	.expect = SPI_OK_UPDATE
};

static void
record_migration(Deliverer *d, Outgoing *o, const char *new_chat, Target *t)
{
	char	   *note = psprintf("Telegram: the group became a supergroup, now chat %s; sent again", new_chat);

	if (o->channel_id > 0)
	{
		Datum		values[2] = {Int64GetDatum(o->channel_id), CStringGetTextDatum(new_chat)};

		SupamonRun(&update_chat, values, NULL);
		ereport(LOG, (errmsg("supamon: Telegram channel %lld moved to chat %s (the group became a supergroup)",
							 (long long) o->channel_id, new_chat)));
	}
	else
	{
		t->chat_override = MemoryContextStrdup(d->cxt, new_chat);
		ereport(WARNING, (errmsg("supamon: the Telegram chat of supamon.telegram_chat_id became a supergroup: set supamon.telegram_chat_id to %s",
								 new_chat)));
	}
	/* an attempt: a service that keeps saying "moved" ends in dead */
	record_failure(o->ids, o->nids, false, true, 0, 400, note);
}

static SupamonStatement update_rate_limited = {
	.sql = "UPDATE supamon.alert_outbox SET last_http_status = 429, last_error = $2"
		" WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 2, .types = {INT8ARRAYOID, TEXTOID},
	.expect = SPI_OK_UPDATE
};

/* A 429: the rows stay 'sending' (their request waits in its queue), and say why. */
static void
record_rate_limited(Outgoing *o, const char *error)
{
	Datum		values[2];

	values[0] = id_array(o->ids, o->nids);
	values[1] = CStringGetTextDatum(error);
	SupamonRun(&update_rate_limited, values, NULL);
}

/* Errors that no retry can mend: the URL, the protocol, the certificate. */
static bool
permanent_curl_error(CURLcode rc)
{
	return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
		rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		rc == CURLE_SSL_CERTPROBLEM;
}

/* Records one finished request; false when it waits to be sent again. */
static bool
record_one(Deliverer *d, Outgoing *o, DeliverCounts *counts)
{
	HttpRequest *req = &o->http;
	Target	   *t = get_target(d, o->key);
	AnswerFields a;
	TimestampTz now = GetCurrentTimestamp();

	t->in_flight--;
	parse_answer(req->answer, req->answer_len, &a);

	/* stay under Discord's limit before being told */
	if (req->rl_remaining == 0 && req->rl_reset_after > 0)
	{
		/* a bucket resets within seconds; more is a lie that would silence the channel */
		TimestampTz until = TimestampTzPlusMilliseconds(now,
														(int64) ceil(Min(req->rl_reset_after, 5.0) * 1000));

		if (until > *t->not_before)
			*t->not_before = until;
	}

	if (req->status >= 200 && req->status < 300)
	{
		record_sent(o, req->status, a.message_id);
		counts->sent += o->nids;
		counts->messages++;
	}
	else if (req->status == 429)
	{
		double		wait = a.retry_after >= 0 ? a.retry_after :
			req->retry_after >= 0 ? req->retry_after :
			req->rl_reset_after >= 0 ? req->rl_reset_after : DEFAULT_RETRY_AFTER;
		TimestampTz until;

		/* a service that only ever says "later" is a failure, in the end */
		if (++o->rate_limited > MAX_RATE_LIMITED)
		{
			record_failure(o->ids, o->nids, false, true, -1, 429,
						   psprintf("rate limited %d times in a row", o->rate_limited));
			d->retry_scheduled = true;
			counts->retrying += o->nids;
			return true;
		}
		/* waited out in place: still this target's next message, in order */
		wait = Max(Min(wait, 3600.0), 1.0);
		until = TimestampTzPlusMilliseconds(now, (int64) ceil(wait * 1000));
		if (until > *t->not_before)
			*t->not_before = until;
		record_rate_limited(o, psprintf("rate limited: retry after %.3g s", wait));
		counts->retrying += o->nids;
		enqueue(d, t, o, true);
		return false;
	}
	else if (o->kind == 't' && req->status == 400 && a.migrate_to &&
			 strcmp(a.migrate_to, o->chat) != 0)
	{
		record_migration(d, o, a.migrate_to, t);
		d->claim_again = true;
		counts->retrying += o->nids;
	}
	else if (req->status >= 500 || req->status == 0 || req->status == 408)
	{
		char	   *err = req->status == 0 ?
			psprintf("no answer: %s", scrubbed(o, req->error)) :
			psprintf("HTTP %ld%s%s", req->status, a.message ? ": " : "",
					 a.message ? scrubbed(o, a.message) : "");

		record_failure(o->ids, o->nids, false, true, -1, (int) req->status, err);
		d->retry_scheduled = true;
		counts->retrying += o->nids;
	}
	else if (o->nids > 1 && req->status >= 400 && req->status < 500)
	{
		/*
		 * A digest the service refused: its alerts go again one by one, each
		 * to its own fate, rather than all dying with it.
		 */
		t->no_digest = true;
		record_failure(o->ids, o->nids, false, false, 0, (int) req->status,
					   psprintf("HTTP %ld for a digest of %d: sent again one by one", req->status, o->nids));
		d->claim_again = true;
		counts->retrying += o->nids;
	}
	else if (req->status == 0 && permanent_curl_error(req->result))
	{
		record_failure(o->ids, o->nids, true, true, 0, 0,
					   psprintf("no answer: %s", scrubbed(o, req->error)));
		counts->dead += o->nids;
	}
	else
	{
		char	   *err = psprintf("HTTP %ld%s%s%s", req->status,
								   a.message ? ": " : "",
								   a.message ? scrubbed(o, a.message) : "",
								   req->status == 404 && o->kind == 'd' ?
								   " (the Discord webhook was deleted?)" :
								   req->status >= 300 && req->status < 400 ?
								   " (redirects are not followed)" : "");

		record_failure(o->ids, o->nids, true, true, 0, (int) req->status, err);
		counts->dead += o->nids;
	}
	return true;
}

void
DeliverRecord(Deliverer *d, DeliverCounts *counts)
{
	while (d->finished)
	{
		Outgoing   *o = d->finished;

		d->finished = o->next;
		if (record_one(d, o, counts))
			MemoryContextDelete(o->cxt);
	}
}

static SupamonStatement requeue_sending = {
	.sql = "UPDATE supamon.alert_outbox SET state = 'pending', next_attempt_at = pg_catalog.clock_timestamp()"
		" WHERE state = 'sending'",
	.expect = SPI_OK_UPDATE
};

uint64
DeliverRequeue(void)
{
	return SupamonRun(&requeue_sending, NULL, NULL);
}

static SupamonStatement read_any_due = {
	.sql = "SELECT 1 FROM supamon.alert_outbox WHERE state IN ('pending', 'sending')"
		" AND next_attempt_at <= pg_catalog.clock_timestamp() LIMIT 1",
	.expect = SPI_OK_SELECT
};

void
DeliverNow(DeliverCounts *counts)
{
	Deliverer  *volatile d = NULL;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), supamon_http_timeout);

	/*
	 * Nothing due: no HTTP machinery at all.  (Not read-only: a read-only
	 * statement would not see the alerts this very check queued.)
	 */
	if (SupamonRun(&read_any_due, NULL, NULL) == 0)
		return;
	DeliverRequeue();

	PG_TRY();
	{
		TimestampTz db_wake;

		d = DeliverCreate();
		d->deadline = deadline;
		db_wake = DeliverClaim(d);
		for (;;)
		{
			TimestampTz pump_wake = DeliverPump(d);
			TimestampTz now = GetCurrentTimestamp();
			TimestampTz wake = pump_wake;
			long		timeout;

			if (db_wake != 0 && (wake == 0 || db_wake < wake))
				wake = db_wake;
			/* the margin lets curl's own timeouts end what is in flight */
			if (now >= deadline + 500 * INT64CONST(1000))
				break;
			if (DeliverInFlight(d) == 0 && (wake == 0 || wake > deadline))
				break;
			timeout = (long) ((deadline + 500 * INT64CONST(1000) - now) / 1000);
			if (wake != 0 && (wake - now) / 1000 < timeout)
				timeout = wake > now ? (long) ((wake - now + 999) / 1000) : 0;
			if (DeliverWait(d, timeout))
				CHECK_FOR_INTERRUPTS();
			if (DeliverHasResults(d))
				DeliverRecord(d, counts);
			if (DeliverWantsClaim(d) || (db_wake != 0 && GetCurrentTimestamp() >= db_wake))
				db_wake = DeliverClaim(d);
		}
		DeliverRecord(d, counts);
	}
	PG_FINALLY();
	{
		DeliverDestroy(d);
	}
	PG_END_TRY();
	/* requests cut by the deadline go to the next round */
	DeliverRequeue();
}

/* ---------- supamon_send_test_alert ---------- */

static SupamonStatement read_channel = {
	.sql = "SELECT id, channel, enabled, webhook_url, bot_token, chat_id,"
		" message_thread_id, signing_secret"
		" FROM supamon.alert_config"
		" WHERE name = $1 OR id::text = $1 ORDER BY name = $1 DESC LIMIT 1",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * supamon_send_test_alert(channel text) RETURNS jsonb: sends a test message
 * to a channel of alert_config (by name or id) or to a setting's channel
 * ('setting:discord', 'setting:telegram') now, and says what happened.
 */
Datum
supamon_send_test_alert(PG_FUNCTION_ARGS)
{
	char	   *channel = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OutRow		row;
	OutRow	   *rowp = &row;
	char	   *problem;
	char	   *outcome = NULL;
	HttpClient *volatile http = NULL;
	Outgoing   *o;
	AnswerFields a;
	JsonbParseState *st = NULL;
	char	   *json;
	const char *api = supamon_telegram_api_url ? supamon_telegram_api_url : "";
	MemoryContext cxt = CurrentMemoryContext;

	memset(&row, 0, sizeof(row));
	row.channel_enabled = true;
	if (strcmp(channel, "setting:discord") == 0 || strcmp(channel, "setting:telegram") == 0)
	{
		row.via_setting = true;
		row.kind = channel[8] == 'd' ? 'd' : 't';
		if (row.kind == 'd')
			row.url = supamon_discord_webhook_url;
		else
		{
			row.bot_token = supamon_telegram_bot_token;
			row.chat_id = supamon_telegram_chat_id;
		}
	}
	else
	{
		Datum		values[1] = {CStringGetTextDatum(channel)};
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		Datum		d;
		char	   *kind;

		SPI_connect();
		if (SupamonRun(&read_channel, values, NULL) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("supamon: no channel \"%s\"", channel),
					 errhint("Channels are listed in supamon.alert_config; the settings' channels are 'setting:discord' and 'setting:telegram'.")));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		row.channel_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		kind = SPI_getvalue(tup, desc, 2);
		row.kind = strcmp(kind, "discord") == 0 ? 'd' : strcmp(kind, "telegram") == 0 ? 't' : 'w';
		row.url = SPI_getvalue(tup, desc, 4);
		row.bot_token = SPI_getvalue(tup, desc, 5);
		row.chat_id = SPI_getvalue(tup, desc, 6);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		row.thread_id = isnull ? 0 : DatumGetInt64(d);
		row.signing_secret = SPI_getvalue(tup, desc, 8);
		/* a test of a disabled channel is still a test of its target */
		row.url = row.url ? MemoryContextStrdup(cxt, row.url) : NULL;
		row.bot_token = row.bot_token ? MemoryContextStrdup(cxt, row.bot_token) : NULL;
		row.chat_id = row.chat_id ? MemoryContextStrdup(cxt, row.chat_id) : NULL;
		row.signing_secret = row.signing_secret ? MemoryContextStrdup(cxt, row.signing_secret) : NULL;
		SPI_finish();
	}

	problem = channel_problem(&row, api);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("supamon: channel \"%s\" cannot be sent to: %s", channel, problem)));

	row.info.project = "supamon";
	row.info.event = "test";
	row.info.reason = psprintf("A test alert from supamon_send_test_alert('%s'): this channel works.", channel);
	row.info.at = NULL;
	{
		/* the generic webhook's body, built like any other */
		JsonbParseState *wst = NULL;

		pushJsonbValue(&wst, WJB_BEGIN_OBJECT, NULL);
		jb_string(&wst, "event", "test");
		jb_string(&wst, "message", row.info.reason);
		jb_string(&wst, "channel", channel);
		row.webhook_json = jb_finish(&wst);
	}

	o = build_outgoing(cxt, &rowp, 1, NULL, api);
	PG_TRY();
	{
		http = HttpClientCreate(8);
		if (o->signature[0])
		{
			HttpAddHeader(&o->http, o->signature[0]);
			HttpAddHeader(&o->http, o->signature[1]);
		}
		HttpStart(http, &o->http, supamon_http_timeout);
		while (!o->http.done)
		{
			if (HttpWait(http, 1000))
				CHECK_FOR_INTERRUPTS();
			(void) HttpNextDone(http);
		}
	}
	PG_FINALLY();
	{
		HttpClientDestroy(http);
	}
	PG_END_TRY();

	parse_answer(o->http.answer, o->http.answer_len, &a);
	if (o->http.status == 0)
		outcome = psprintf("no answer: %s", scrubbed(o, o->http.error));
	else if (a.message && (o->http.status < 200 || o->http.status >= 300))
		outcome = scrubbed(o, a.message);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_string(&st, "channel", channel);
	jb_bool(&st, "ok", o->http.status >= 200 && o->http.status < 300);
	if (o->http.status > 0)
		jb_int(&st, "http_status", o->http.status);
	jb_string(&st, "error", outcome);
	jb_int(&st, "elapsed_ms", o->http.elapsed_ms);
	json = jb_finish(&st);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
