-- The Slack war room (issue 6): per-workspace settings, the per-incident record of what
-- was done in Slack, the event posts made, the messages pinned into the timeline, and the
-- signatures of Slack requests already served (replay protection). Written by the
-- warroom service only; it also writes incidents.slack_channel_id / slack_channel_url.
--
-- The record is written before and after each Slack call, outside the consumer's
-- transaction, so a redelivered event, a restart between "channel created" and "channel
-- id stored", or a retried call never creates a second channel, pin or post.

CREATE TABLE warroom_settings (
    workspace_id      uuid                PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    -- the severities that get a channel
    severities        incident_severity[] NOT NULL DEFAULT '{SEV1,SEV2}',
    -- whether drills (of those severities) get one
    drills            boolean             NOT NULL DEFAULT true,
    -- whether closing an incident archives its channel
    archive_on_close  boolean             NOT NULL DEFAULT true,
    updated_at        timestamptz         NOT NULL DEFAULT now()
);

CREATE TABLE warroom_rooms (
    incident_id          uuid        PRIMARY KEY,
    workspace_id         uuid        NOT NULL,
    -- the name being created (set before conversations.create) and its name_taken retries
    channel_name         text,
    name_attempt         integer     NOT NULL DEFAULT 0 CHECK (name_attempt >= 0),
    channel_id           text        UNIQUE,
    channel_url          text,
    -- incidents.slack_channel_* written and incident.warroom_opened emitted
    announced            boolean     NOT NULL DEFAULT false,
    -- sha-256 of the topic last set
    topic_hash           text,
    -- Slack user ids invited (or found already there)
    invited              text[]      NOT NULL DEFAULT '{}',
    -- the commander last sent their assignment DM
    briefed_commander    uuid,
    summary_ts           text,
    summary_hash         text,
    pinned               boolean     NOT NULL DEFAULT false,
    -- the highest incident version applied to topic and summary
    applied_version      bigint      NOT NULL DEFAULT 0,
    archived             boolean     NOT NULL DEFAULT false,
    -- the last permanent Slack failure, for operators
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id) ON DELETE CASCADE
);

CREATE TRIGGER warroom_rooms_set_updated_at BEFORE UPDATE ON warroom_rooms
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- One row per event posted into a channel (by the event's envelope id).
CREATE TABLE warroom_posts (
    incident_id  uuid        NOT NULL REFERENCES warroom_rooms (incident_id) ON DELETE CASCADE,
    event_id     uuid        NOT NULL,
    ts           text        NOT NULL,
    posted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, event_id)
);

-- Messages added to the timeline with a :pushpin: reaction, each once.
CREATE TABLE warroom_pinned_messages (
    channel_id   text        NOT NULL,
    message_ts   text        NOT NULL,
    incident_id  uuid        NOT NULL REFERENCES warroom_rooms (incident_id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, message_ts)
);

-- Signatures of Slack requests served in the last minutes: a replayed body is refused.
CREATE TABLE warroom_slack_requests (
    signature    text        PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warroom_slack_requests_received_idx ON warroom_slack_requests (received_at);
