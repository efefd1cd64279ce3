-- The war room's own work queue (issue 17, pacing per Slack team). The consumer of
-- `warroom.events` writes one row per event in the transaction of its inbox row and acks;
-- workers claim lane heads with FOR UPDATE SKIP LOCKED, a lane (an incident, or
-- `ws:<workspace>` for workspace-wide posts) never running two jobs at once nor out of
-- order. `team` is the Slack team the work goes to (`*` for the single configured token);
-- a 429 from Slack moves that team's `warroom_team_pacing.not_before` and nobody else's.
-- A job is deleted when done; one that cannot be done (the app was uninstalled, a
-- permanent failure, too many attempts) keeps its row with `dead_reason` and no longer
-- holds its lane.
CREATE TABLE warroom_jobs (
    id            bigserial   PRIMARY KEY,
    message_id    uuid        NOT NULL UNIQUE,
    workspace_id  uuid        NOT NULL,
    team          text        NOT NULL CHECK (team <> ''),
    lane          text        NOT NULL CHECK (lane <> ''),
    envelope      jsonb       NOT NULL,
    not_before    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    dead_reason   text,
    dead_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX warroom_jobs_live_lane_idx ON warroom_jobs (lane, id) WHERE dead_reason IS NULL;
CREATE INDEX warroom_jobs_live_due_idx ON warroom_jobs (not_before, id) WHERE dead_reason IS NULL;
CREATE INDEX warroom_jobs_team_idx ON warroom_jobs (team) WHERE dead_reason IS NULL;

-- When a Slack team may be called again after a 429 (its Retry-After), per team.
CREATE TABLE warroom_team_pacing (
    team        text        PRIMARY KEY,
    not_before  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
