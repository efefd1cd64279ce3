-- The war room tells people (issue 17): one message per incident in the workspace's
-- announcement channel, updated in place; each role holder and action-item assignee told
-- once per assignment; the war room channel's bookmarks. Written by the warroom only,
-- through the pool right after each Slack call (like the rest of its record), so a
-- redelivered event posts nothing twice.

-- The incident's message in the announcement channel.
CREATE TABLE warroom_incident_announcements (
    incident_id      uuid        PRIMARY KEY,
    workspace_id     uuid        NOT NULL,
    channel_id       text        NOT NULL,
    ts               text        NOT NULL,
    -- sha-256 of the text and blocks last posted
    content_hash     text        NOT NULL,
    -- the highest incident version shown
    applied_version  bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id) ON DELETE CASCADE
);

CREATE TRIGGER warroom_incident_announcements_set_updated_at BEFORE UPDATE ON warroom_incident_announcements
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- One row per person told something: a role assignment (`role:<event id>:<role>`), an
-- action item assigned (`action_item:<event id>`) or overdue (`overdue:<item id>`).
CREATE TABLE warroom_notifications (
    key            text        PRIMARY KEY,
    workspace_id   uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    incident_id    uuid,
    user_id        uuid        NOT NULL,
    -- `dm`, `mention` (the DM was refused: mentioned in a channel instead) or
    -- `unreachable` (no Slack account, or nowhere to mention them)
    delivery       text        NOT NULL CHECK (delivery IN ('dm', 'mention', 'unreachable')),
    slack_user_id  text,
    channel_id     text,
    ts             text,
    -- Slack's code for what was refused, when something was
    refusal        text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warroom_notifications_incident_idx ON warroom_notifications (incident_id);

-- The channel's bookmarks by what they link to (`incident`, `postmortem`):
-- `{"incident": {"id": "Bk…", "link": "https://…"}}`.
ALTER TABLE warroom_rooms ADD COLUMN bookmarks jsonb NOT NULL DEFAULT '{}';
