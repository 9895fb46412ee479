/*
 * channel.c
 *		supamon_add_channel and supamon_remove_channel: alert channels,
 *		checked before anything is written.
 *
 * A channel's URL or token is a secret: an error about it shows the URL
 * masked (scheme and host only) and never the token.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "alert_text.h"
#include "deliver.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_add_channel);
PG_FUNCTION_INFO_V1(supamon_remove_channel);

static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static void
refuse(const char *what, const char *name, const char *channel, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("supamon: %s channel \"%s\": %s", channel, name, why),
			 what ? errhint("%s", what) : 0));
}

static bool
valid_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '_' || c == '.' || c == '-'))))
			return false;
	}
	return true;
}

static SupamonStatement read_channel_name = {
	.sql = "SELECT 1 FROM supamon.alert_config WHERE name = $1",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

static SupamonStatement insert_channel = {
	.sql = "INSERT INTO supamon.alert_config (name, channel, webhook_url, bot_token,"
		"  chat_id, criticality, message_thread_id, signing_secret)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
	.nargs = 8, .types = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID},
	.expect = SPI_OK_INSERT_RETURNING
};

static int64 added_id;

static void
add_channel(FunctionCallInfo fcinfo)
{
	char	   *name = arg_text(fcinfo, 0);
	char	   *channel = arg_text(fcinfo, 1);
	char	   *url = arg_text(fcinfo, 2);
	char	   *bot_token = arg_text(fcinfo, 3);
	char	   *chat_id = arg_text(fcinfo, 4);
	char	   *criticality = arg_text(fcinfo, 5);
	bool		has_thread = !PG_ARGISNULL(6);
	int64		thread_id = has_thread ? PG_GETARG_INT64(6) : 0;
	char	   *secret = arg_text(fcinfo, 7);
	char		err[256];
	char		masked[512];
	Datum		values[8];
	char		nulls[9] = "        ";
	bool		isnull;

	if (name == NULL || !valid_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("supamon: invalid channel name \"%s\"", name ? name : "(null)"),
				 errdetail("A name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit.")));
	if (channel == NULL ||
		(strcmp(channel, "discord") != 0 && strcmp(channel, "telegram") != 0 &&
		 strcmp(channel, "webhook") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("supamon: unknown channel type \"%s\"", channel ? channel : "(null)"),
				 errhint("Channel types are discord, telegram and webhook.")));
	if (criticality == NULL ||
		(strcmp(criticality, "critical") != 0 && strcmp(criticality, "important") != 0 &&
		 strcmp(criticality, "low") != 0 && strcmp(criticality, "all") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("supamon: invalid criticality filter \"%s\"", criticality ? criticality : "(null)"),
				 errhint("A channel takes alerts of a level and above: critical, important, low, or all.")));

	if (strcmp(channel, "telegram") == 0)
	{
		if (url)
			refuse("A Telegram channel takes bot_token and chat_id; the API's address is supamon.telegram_api_url.",
				   name, channel, "url is not used");
		if (bot_token == NULL || chat_id == NULL)
			refuse(NULL, name, channel, "bot_token and chat_id are both needed");
		if (!at_check_telegram_token(bot_token, err, sizeof(err)))
			refuse("A bot token, from @BotFather, looks like 123456789:AAE...", name, channel, err);
		if (!at_check_chat_id(chat_id, err, sizeof(err)))
			refuse("A chat id is a number (negative for groups) or @channelname.", name, channel, err);
		if (has_thread && thread_id <= 0)
			refuse(NULL, name, channel, "message_thread_id must be positive");
		if (secret)
			refuse(NULL, name, channel, "signing_secret is for webhook channels");
	}
	else
	{
		if (bot_token || chat_id || has_thread)
			refuse(NULL, name, channel, "bot_token, chat_id and message_thread_id are for Telegram channels");
		if (url == NULL)
			refuse(NULL, name, channel, "url is needed");
		at_mask_url(url, masked, sizeof(masked));
		if (strcmp(channel, "discord") == 0)
		{
			if (!at_check_discord_url(url, err, sizeof(err)))
				refuse("A Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>.",
					   name, channel, psprintf("bad webhook URL \"%s\": %s", masked, err));
			if (DeliverClearTextProblem(url))
				refuse(NULL, name, channel, psprintf("bad webhook URL \"%s\": %s", masked,
													 DeliverClearTextProblem(url)));
			if (secret)
				refuse(NULL, name, channel, "signing_secret is for webhook channels");
		}
		else
		{
			if (!at_check_url(url, err, sizeof(err)))
				refuse(NULL, name, channel, psprintf("bad URL \"%s\": %s", masked, err));
			if (secret && strlen(secret) < 16)
				refuse(NULL, name, channel, "a signing secret needs at least 16 characters");
		}
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(channel);
	values[2] = url ? CStringGetTextDatum(url) : (Datum) 0;
	nulls[2] = url ? ' ' : 'n';
	values[3] = bot_token ? CStringGetTextDatum(bot_token) : (Datum) 0;
	nulls[3] = bot_token ? ' ' : 'n';
	values[4] = chat_id ? CStringGetTextDatum(chat_id) : (Datum) 0;
	nulls[4] = chat_id ? ' ' : 'n';
	values[5] = CStringGetTextDatum(criticality);
	values[6] = Int64GetDatum(thread_id);
	nulls[6] = has_thread ? ' ' : 'n';
	values[7] = secret ? CStringGetTextDatum(secret) : (Datum) 0;
	nulls[7] = secret ? ' ' : 'n';

	SPI_connect();
	if (SupamonRun(&read_channel_name, values, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("supamon: channel \"%s\" already exists", name),
				 errhint("Remove it first with supamon_remove_channel('%s').", name)));
	SupamonRun(&insert_channel, values, nulls);
	added_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
}

/*
 * supamon_add_channel(name, channel, url, bot_token, chat_id, criticality,
 *					   message_thread_id, signing_secret) RETURNS bigint
 *
 * Its arguments are secrets: no error it raises logs the statement.
 */
Datum
supamon_add_channel(PG_FUNCTION_ARGS)
{
	SupamonHidingStatement(add_channel, fcinfo);
	PG_RETURN_INT64(added_id);
}

static SupamonStatement update_channel_alerts_dead = {
	.sql = "UPDATE supamon.alert_outbox o SET state = 'dead',"
		" last_error = 'its channel was removed'"
		" FROM supamon.alert_config c"
		" WHERE c.name = $1 AND o.channel_id = c.id AND o.state IN ('pending', 'sending')",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_UPDATE
};

static SupamonStatement delete_channel = {
	.sql = "DELETE FROM supamon.alert_config WHERE name = $1",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_DELETE
};

/*
 * supamon_remove_channel(name text): its undelivered alerts become dead
 * (they had nowhere else to go); what was delivered stays in the outbox.
 */
Datum
supamon_remove_channel(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		values[1] = {CStringGetTextDatum(name)};

	SPI_connect();
	SupamonRun(&update_channel_alerts_dead, values, NULL);
	if (SupamonRun(&delete_channel, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("supamon: no channel \"%s\"", name)));
	SPI_finish();
	PG_RETURN_VOID();
}
