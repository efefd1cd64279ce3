-- Slack installed per workspace (issue 17, war room): one row per workspace of ours, the
-- Slack team (and Enterprise Grid organisation) it is installed into, the bot user, and
-- the bot token sealed with INCIDENT_SECRETS_KEY (incident_runtime::sealed, associated
-- data `slack:<workspace id>`): a database dump holds no live token. A reinstall replaces
-- the token and clears uninstalled_at; `app_uninstalled` / `tokens_revoked` set it, and
-- nothing more is posted to that team after. One live installation per Slack team, so a
-- request from a team routes to exactly one workspace.
CREATE TABLE slack_installations (
    workspace_id      uuid        PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    team_id           text        NOT NULL CHECK (team_id <> ''),
    enterprise_id     text        CHECK (enterprise_id <> ''),
    bot_user_id       text        NOT NULL CHECK (bot_user_id <> ''),
    bot_token_sealed  bytea       NOT NULL,
    scopes            text[]      NOT NULL DEFAULT '{}',
    installed_at      timestamptz NOT NULL DEFAULT now(),
    uninstalled_at    timestamptz,
    uninstall_reason  text
);

CREATE UNIQUE INDEX slack_installations_live_team_key
    ON slack_installations (team_id, coalesce(enterprise_id, ''))
    WHERE uninstalled_at IS NULL;
CREATE INDEX slack_installations_team_idx ON slack_installations (team_id);

-- An OAuth flow under way (GET /slack/install → Slack → GET /slack/oauth/callback): only
-- the state's SHA-256 is stored; a row is taken once (DELETE ... RETURNING) and lives ten
-- minutes; starting a flow prunes the expired ones.
CREATE TABLE slack_oauth_states (
    state_hash    bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    workspace_id  uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL DEFAULT now() + interval '10 minutes',
    CHECK (expires_at > created_at)
);

CREATE INDEX slack_oauth_states_expires_idx ON slack_oauth_states (expires_at);
