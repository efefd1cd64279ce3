-- War room steps that fail on their own (issue 14): an optional Slack call (the
-- commander's DM, the invite of one user, an email lookup) that Slack refuses for good is
-- recorded here and skipped; the channel, topic, summary, posts and archive carry on.
--
-- One row per incident, step and Slack error code. Written through the pool right after
-- the refused call (like the rest of the room's record); `noted` is set in the delivery's
-- transaction together with the timeline note it asks core for, so each refusal reaches
-- the timeline once even when a delivery is retried.

CREATE TABLE warroom_step_failures (
    incident_id  uuid        NOT NULL REFERENCES warroom_rooms (incident_id) ON DELETE CASCADE,
    -- which step: `dm:<user id>`, `invite:<slack user id>`, `lookup:<user id>`
    step         text        NOT NULL,
    -- the Web API method Slack refused
    method       text        NOT NULL,
    -- Slack's error code (`cannot_dm_bot`, `user_not_found`, ...)
    code         text        NOT NULL,
    -- how many times Slack refused it
    attempts     integer     NOT NULL DEFAULT 1,
    -- the timeline note was asked for
    noted        boolean     NOT NULL DEFAULT false,
    first_at     timestamptz NOT NULL DEFAULT now(),
    last_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, step, code)
);
