-- supamon 0.6.0: alerts reach people (channels, messages, delivery).
\echo Use "ALTER EXTENSION supamon UPDATE TO '0.6.0'" to load this file. \quit

-- Channels get a name people can refer to, Telegram forum topics, and a
-- signing secret for generic webhooks (a secret like the others: not granted).
ALTER TABLE supamon.alert_config
	ADD COLUMN name text
		CONSTRAINT alert_config_name_key UNIQUE
		CONSTRAINT alert_config_name_check
		CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
	ADD COLUMN message_thread_id bigint
		CONSTRAINT alert_config_message_thread_id_check CHECK (message_thread_id > 0),
	ADD COLUMN signing_secret text;
GRANT SELECT (name, message_thread_id) ON supamon.alert_config TO pg_monitor;

-- Delivery bookkeeping.  'sending' marks rows the worker has in flight; a
-- worker that starts puts its predecessor's back to 'pending' (at least
-- once).  via_setting: the zero-table channel of supamon.discord_webhook_url
-- or supamon.telegram_*, whose target is read when sending, so that the
-- outbox never holds a secret.
ALTER TABLE supamon.alert_outbox
	DROP CONSTRAINT alert_outbox_state_check,
	ADD CONSTRAINT alert_outbox_state_check
		CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
	ADD COLUMN via_setting boolean NOT NULL DEFAULT false,
	ADD COLUMN last_http_status integer,
	ADD COLUMN delivery_id bigint,			-- the message that carried it
	ADD COLUMN delivered_with integer,		-- how many alerts that message carried
	ADD COLUMN remote_message_id text;		-- the service's id for that message

CREATE SEQUENCE supamon.alert_delivery_seq;

-- The project's last outage (unreachable or scheduler down): a run missed
-- inside it is told in the recovery message, not alerted afterwards.
ALTER TABLE supamon.project
	ADD COLUMN outage_from timestamptz,
	ADD COLUMN outage_until timestamptz;
GRANT SELECT (outage_from, outage_until) ON supamon.project TO pg_monitor;
CREATE INDEX alert_outbox_sending_idx
	ON supamon.alert_outbox (id) WHERE state = 'sending';
-- The worker's "what is due" in id order, per target.
DROP INDEX supamon.alert_outbox_due_idx;
CREATE INDEX alert_outbox_due_idx
	ON supamon.alert_outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE FUNCTION @extschema@.supamon_add_channel(
	name text,
	channel text,
	url text DEFAULT NULL,
	bot_token text DEFAULT NULL,
	chat_id text DEFAULT NULL,
	criticality text DEFAULT 'all',
	message_thread_id bigint DEFAULT NULL,
	signing_secret text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'supamon_add_channel'
LANGUAGE C
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.supamon_remove_channel(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'supamon_remove_channel'
LANGUAGE C STRICT
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.supamon_send_test_alert(channel text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'supamon_send_test_alert'
LANGUAGE C STRICT
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.supamon_add_channel(text, text, text, text, text, text, bigint, text),
	@extschema@.supamon_remove_channel(text),
	@extschema@.supamon_send_test_alert(text) FROM PUBLIC;

-- The outbox as people read it: where each alert went (targets redacted:
-- a Discord webhook's token and a bot token are secrets; a chat id is not),
-- what happened to it, and in which message it left.
CREATE VIEW supamon.alerts AS
SELECT o.id,
	   o.created_at,
	   o.channel,
	   CASE WHEN o.via_setting THEN 'setting:' OPERATOR(pg_catalog.||) o.channel
			ELSE c.name END AS channel_name,
	   CASE
		   WHEN o.via_setting AND o.channel = 'discord' THEN 'supamon.discord_webhook_url'
		   WHEN o.via_setting THEN 'supamon.telegram_chat_id'
		   WHEN c.id IS NULL THEN NULL
		   WHEN c.channel = 'telegram' THEN 'chat ' OPERATOR(pg_catalog.||) c.chat_id
		   -- only a plain scheme://host[:port] is shown; anything else
		   -- (credentials, no scheme: rows written by hand) is all secret
		   WHEN c.webhook_url ~* '^https?://[a-z0-9.-]+(:[0-9]+)?([/?]|$)'
			   THEN pg_catalog.regexp_replace(c.webhook_url, '^([A-Za-z]+://[^/?]*).*$', '\1/****')
		   ELSE '****'
	   END AS target,
	   o.project_name AS project,
	   o.job_name AS job,
	   o.event,
	   o.criticality,
	   o.state,
	   o.attempts,
	   CASE WHEN o.state IN ('pending', 'sending') THEN o.next_attempt_at END AS next_attempt_at,
	   o.last_http_status,
	   o.last_error,
	   o.sent_at,
	   o.delivery_id,
	   o.delivered_with,
	   o.message
FROM supamon.alert_outbox o
LEFT JOIN supamon.alert_config c ON c.id = o.channel_id;

REVOKE ALL ON supamon.alerts FROM PUBLIC;
GRANT SELECT ON supamon.alerts TO pg_monitor;
