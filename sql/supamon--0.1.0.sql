-- supamon 0.1.0: the data model (SPEC section 2).
\echo Use "CREATE EXTENSION supamon" to load this file. \quit

-- Tables live in their own schema; the SQL-callable functions are created in
-- the extension's schema (@extschema@, normally public) so that unqualified
-- calls work right after CREATE EXTENSION.  The schema is a member of the
-- extension, so DROP EXTENSION removes it with everything in it.
CREATE SCHEMA supamon;
REVOKE ALL ON SCHEMA supamon FROM PUBLIC;

-- One row per monitored Supabase project.  conninfo is a libpq connection
-- string and holds a password: readable only by the extension's owner.
CREATE TABLE supamon.project (
	name text PRIMARY KEY
		CONSTRAINT project_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
	conninfo text,			-- NULL: this very database, read locally
	supabase_ref text
		CONSTRAINT project_supabase_ref_check CHECK (supabase_ref ~ '^[a-z0-9]{1,63}$'),
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- last-check bookkeeping
	last_check_at timestamptz,		-- when the last check of this project ended
	last_success_at timestamptz,	-- when it was last read without error
	reachable boolean,				-- NULL until first checked
	last_error text					-- why the last check failed (never a secret)
);

-- The inventory: every job supamon has discovered, one row per
-- (project, type, name).  Columns marked "user" are never overwritten by
-- re-discovery.
CREATE TABLE supamon.job_inventory (
	project_name text NOT NULL
		REFERENCES supamon.project (name) ON UPDATE CASCADE ON DELETE CASCADE,
	job_type text NOT NULL
		CONSTRAINT job_inventory_job_type_check CHECK (job_type IN ('pg_cron', 'edge_function')),
	job_name text NOT NULL CHECK (job_name <> ''),
	job_id bigint,					-- pg_cron jobid; NULL for Edge Functions
	schedule text,
	command text,
	active boolean NOT NULL DEFAULT true,
	expected_interval_minutes numeric CHECK (expected_interval_minutes > 0),
	description text,				-- user
	success_criteria text,			-- user
	criticality text NOT NULL DEFAULT 'important'	-- user
		CONSTRAINT job_inventory_criticality_check
		CHECK (criticality IN ('critical', 'important', 'low')),
	grace interval					-- user: overrides the default grace
		CONSTRAINT job_inventory_grace_check CHECK (grace >= interval '0'),
	removed_at timestamptz,			-- set when the job disappeared from its project
	last_seen_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_name, job_type, job_name)
);

-- What was observed, over time: a row per status change and per observed
-- run, never one per job per check; old rows are purged by retention.
CREATE TABLE supamon.job_health_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	project_name text NOT NULL,
	job_type text NOT NULL,
	job_name text NOT NULL,
	status text NOT NULL
		CONSTRAINT job_health_log_status_check
		CHECK (status IN ('success', 'failed', 'missed', 'stuck', 'unknown', 'paused', 'removed')),
	error_message text,
	last_run_at timestamptz,
	collected_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (project_name, job_type, job_name)
		REFERENCES supamon.job_inventory (project_name, job_type, job_name)
		ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX job_health_log_job_idx
	ON supamon.job_health_log (project_name, job_type, job_name, collected_at);
CREATE INDEX job_health_log_collected_at_idx
	ON supamon.job_health_log (collected_at);

-- Alert channels.  webhook_url and bot_token are secrets.
CREATE TABLE supamon.alert_config (
	-- serial rather than identity: its sequence must be dumped with the rows
	id bigserial PRIMARY KEY,
	channel text NOT NULL
		CONSTRAINT alert_config_channel_check
		CHECK (channel IN ('discord', 'telegram', 'webhook')),
	criticality text NOT NULL DEFAULT 'all'
		CONSTRAINT alert_config_criticality_check
		CHECK (criticality IN ('critical', 'important', 'low', 'all')),
	webhook_url text,
	bot_token text,
	chat_id text,
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT alert_config_target_check CHECK (
		CASE channel
			WHEN 'telegram' THEN bot_token IS NOT NULL AND chat_id IS NOT NULL
			ELSE webhook_url IS NOT NULL
		END)
);

-- The outbox: alerts queued in the transaction that decided them and
-- delivered by the worker.  A normal (logged) table, so that a crash loses
-- nothing.
CREATE TABLE supamon.alert_outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	channel_id bigint REFERENCES supamon.alert_config (id) ON DELETE SET NULL,
	channel text NOT NULL
		CONSTRAINT alert_outbox_channel_check
		CHECK (channel IN ('discord', 'telegram', 'webhook')),
	project_name text,
	job_type text,
	job_name text,
	event text NOT NULL,			-- failed, missed, stuck, unreachable, recovered, ...
	criticality text
		CONSTRAINT alert_outbox_criticality_check
		CHECK (criticality IN ('critical', 'important', 'low')),
	message text NOT NULL,
	state text NOT NULL DEFAULT 'pending'
		CONSTRAINT alert_outbox_state_check
		CHECK (state IN ('pending', 'sent', 'dead')),
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error text,
	sent_at timestamptz
);
-- The worker looks for due alerts only.
CREATE INDEX alert_outbox_due_idx
	ON supamon.alert_outbox (next_attempt_at) WHERE state = 'pending';

-- Privileges: nothing for PUBLIC.  Members of pg_monitor may read what is
-- not secret; the secret columns (project.conninfo, alert_config.webhook_url,
-- alert_config.bot_token) stay with the owner.
REVOKE ALL ON ALL TABLES IN SCHEMA supamon FROM PUBLIC;
GRANT USAGE ON SCHEMA supamon TO pg_monitor;
GRANT SELECT (name, supabase_ref, enabled, created_at, updated_at,
			  last_check_at, last_success_at, reachable, last_error)
	ON supamon.project TO pg_monitor;
GRANT SELECT ON supamon.job_inventory, supamon.job_health_log TO pg_monitor;
GRANT SELECT (id, channel, criticality, chat_id, enabled, created_at)
	ON supamon.alert_config TO pg_monitor;
GRANT SELECT ON supamon.alert_outbox TO pg_monitor;

-- The configuration tables are what a dump must keep.
SELECT pg_catalog.pg_extension_config_dump('supamon.project', '');
SELECT pg_catalog.pg_extension_config_dump('supamon.job_inventory', '');
SELECT pg_catalog.pg_extension_config_dump('supamon.alert_config', '');
SELECT pg_catalog.pg_extension_config_dump('supamon.alert_config_id_seq', '');
