-- Alert channels: what supamon_add_channel accepts and refuses (secrets
-- masked, nothing written), removal, and the supamon.alerts view.
CREATE EXTENSION supamon;

SELECT supamon_add_channel('ops', 'discord',
	'https://discord.com/api/webhooks/123456789012345678/AbC-dEf_GhI-secret-token-1') > 0 AS added;
SELECT supamon_add_channel('oncall', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij',
	chat_id => '-1001234567890', criticality => 'critical', message_thread_id => 42) > 0 AS added;
SELECT supamon_add_channel('pager', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij',
	chat_id => '@supamon_alerts') > 0 AS added;
SELECT supamon_add_channel('hook', 'webhook', 'https://hooks.example.com/in/secret-path?key=secret-query',
	criticality => 'important', signing_secret => 'a-signing-secret-of-32-characters') > 0 AS added;
SELECT name, channel, criticality, chat_id, message_thread_id, enabled
FROM supamon.alert_config ORDER BY id;

-- Refused, each with a clear error that never shows a token, a path or a query.
\set VERBOSITY terse
SELECT supamon_add_channel('x', 'discord', 'ftp://discord.com/api/webhooks/1/secret-token-ftp');
SELECT supamon_add_channel('x', 'discord', 'https://user:secret-password@discord.com/api/webhooks/1/t');
SELECT supamon_add_channel('x', 'discord', 'not a url secret-garbage');
SELECT supamon_add_channel('x', 'discord', 'https://discord.com/channels/1/secret-token-path');
SELECT supamon_add_channel('x', 'discord', 'https://discord.com/api/webhooks/1/secret token with spaces');
SELECT supamon_add_channel('x', 'discord', NULL);
SELECT supamon_add_channel('x', 'telegram', bot_token => 'secret-token-without-id', chat_id => '1');
SELECT supamon_add_channel('x', 'telegram', bot_token => '123:short-secret', chat_id => '1');
SELECT supamon_add_channel('x', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij', chat_id => 'general');
SELECT supamon_add_channel('x', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij', chat_id => '-0');
SELECT supamon_add_channel('x', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij');
SELECT supamon_add_channel('x', 'telegram', bot_token => '123456789:AAE-secret-bot-token-abcdefghij',
	chat_id => '1', message_thread_id => 0);
SELECT supamon_add_channel('x', 'telegram', 'https://api.telegram.org/secret',
	bot_token => '123456789:AAE-secret-bot-token-abcdefghij', chat_id => '1');
SELECT supamon_add_channel('x', 'webhook', 'https://hooks.example.com/x', signing_secret => 'short-secret');
SELECT supamon_add_channel('x', 'webhook', 'https://hooks.example.com/x#secret-fragment');
SELECT supamon_add_channel('x', 'webhook', 'https://hooks.example.com/x', bot_token => '1:secret');
SELECT supamon_add_channel('x', 'slack', 'https://hooks.slack.com/services/secret');
SELECT supamon_add_channel('x', 'discord', 'https://discord.com/api/webhooks/1/secret-token-9', criticality => 'urgent');
SELECT supamon_add_channel('has space', 'discord', 'https://discord.com/api/webhooks/1/secret-token-9');
SELECT supamon_add_channel('ops', 'discord', 'https://discord.com/api/webhooks/1/secret-token-9');
SELECT supamon_remove_channel('nope');
SELECT supamon_send_test_alert('nope');
\set VERBOSITY default
SELECT count(*) AS channels FROM supamon.alert_config;

-- The outbox as people read it: targets redacted, chat ids shown.
INSERT INTO supamon.alert_outbox (channel_id, channel, project_name, job_name, event, criticality, message)
SELECT id, channel, 'alpha', 'nightly', 'failed', 'critical', 'alpha/nightly failed'
FROM supamon.alert_config ORDER BY id;
INSERT INTO supamon.alert_outbox (channel, via_setting, project_name, event, criticality, message)
	VALUES ('discord', true, 'alpha', 'unreachable', 'important', 'project alpha is unreachable');
SELECT channel_name, target, project, job, event, state, attempts
FROM supamon.alerts ORDER BY id;
-- channels written by hand: whatever is not a plain scheme://host is hidden whole
INSERT INTO supamon.alert_config (name, channel, webhook_url) VALUES
	('hand-creds', 'webhook', 'https://user:secret-pw@example.com/x'),
	('hand-noscheme', 'webhook', 'example.com/secret-no-scheme');
INSERT INTO supamon.alert_outbox (channel_id, channel, project_name, event, criticality, message)
SELECT id, 'webhook', 'alpha', 'failed', 'critical', 'm' FROM supamon.alert_config WHERE name LIKE 'hand-%';
SELECT channel_name, target FROM supamon.alerts WHERE channel_name LIKE 'hand-%' ORDER BY id;
SELECT count(*) AS leaks FROM supamon.alerts a
WHERE a::text ~ 'secret';
DELETE FROM supamon.alert_outbox WHERE channel_id IN (SELECT id FROM supamon.alert_config WHERE name LIKE 'hand-%');
DELETE FROM supamon.alert_config WHERE name LIKE 'hand-%';

-- Removing a channel: what it had not delivered is dead, saying why.
SELECT supamon_remove_channel('hook');
SELECT channel_name, state, last_error FROM supamon.alerts WHERE channel = 'webhook';
SELECT name FROM supamon.alert_config ORDER BY id;

-- A channel written by hand with a bad target is refused when tested.
INSERT INTO supamon.alert_config (name, channel, webhook_url) VALUES ('by-hand', 'discord', 'http://x/secret-hand');
\set VERBOSITY terse
SELECT supamon_send_test_alert('by-hand');
SELECT supamon_send_test_alert('setting:telegram');
\set VERBOSITY default

-- A secret setting's value is for superusers: pg_monitor reads every setting,
-- and sees it masked.
SET supamon.discord_webhook_url = 'https://discord.com/api/webhooks/1/secret-setting-token';
CREATE ROLE alerts_watcher IN ROLE pg_monitor;
SET ROLE alerts_watcher;
SHOW supamon.discord_webhook_url;
SELECT current_setting('supamon.discord_webhook_url') AS via_function;
SELECT count(*) AS leaks FROM pg_settings WHERE setting ~ 'secret';
SELECT count(*) AS readable_alerts FROM supamon.alerts;
RESET ROLE;
SHOW supamon.discord_webhook_url;
RESET supamon.discord_webhook_url;
DROP ROLE alerts_watcher;

DROP EXTENSION supamon;
