-- The web app (shared/web, served by core): browser sessions, the status page setting,
-- and the notification live pages are fed from.

-- A browser signed in with an API token (the login form takes the token once). The
-- cookie holds a random secret; only its SHA-256 is stored. A session ends when it
-- expires, when it is signed out (revoked_at) and when the API token it came from is
-- revoked or expires: every lookup joins the token (shared/web `session`).
CREATE TABLE web_sessions (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    api_token_id  uuid        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    session_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(session_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CHECK (expires_at > created_at)
);

CREATE INDEX web_sessions_api_token_idx ON web_sessions (api_token_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- Live pages: every event about an incident that any service writes to its outbox
-- notifies `incident_changed` with "<workspace_id> <incident_id> <type>". NOTIFY is
-- delivered on commit only, so a page never sees a change that rolled back. The outbox
-- is where every writer of an incident (core, the SLA watchdog, the war room, ingestion)
-- already records what changed, so the pages need no second path.
CREATE FUNCTION incident_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('incident_changed',
                      concat_ws(' ', r.payload ->> 'workspace_id',
                                r.payload -> 'data' -> 'incident' ->> 'id',
                                r.message_type))
    FROM new_rows r
    WHERE r.payload -> 'data' -> 'incident' ->> 'id' IS NOT NULL;
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_incident_changed_after_insert
    AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION incident_changed_notify();

-- An incident of a workspace's public status page: neither private nor a drill. The
-- status page reads recent incidents by workspace, newest first.
CREATE INDEX incidents_status_page_idx ON incidents (workspace_id, created_at DESC)
    WHERE visibility = 'PUBLIC' AND NOT is_drill;
