-- Analytics (issue 10): the workspace's time zone (core), the final resolution of a
-- reopened incident (kept by a trigger, whoever writes the status), the war room's
-- announcement channel and its record of digests posted there, and the index the
-- analytics queries read incidents through.
--
-- Analytics are computed from the live rows on every request (no rollups), so a late
-- event (a reopen, a late acknowledgement, a postmortem published months later) is in the
-- next answer.

-- The zone weeks and months are cut in (an IANA name Postgres knows, checked by core
-- when set: `pg_timezone_names`).
ALTER TABLE workspaces ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (btrim(time_zone) <> '');

-- `resolved_at` is the first resolution and stays after a reopen (the lifecycle stamps
-- first arrivals). An incident resolved (or closed) again after a reopen gets its final
-- resolution here, so its time to resolve is `COALESCE(last_resolved_at, resolved_at)`
-- and a reopen moves it. NULL for every incident never reopened.
ALTER TABLE incidents ADD COLUMN last_resolved_at timestamptz;

CREATE FUNCTION incidents_track_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('RESOLVED', 'CLOSED')
       AND OLD.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
       AND OLD.resolved_at IS NOT NULL
       AND NEW.last_resolved_at IS NOT DISTINCT FROM OLD.last_resolved_at THEN
        NEW.last_resolved_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incidents_track_resolution BEFORE UPDATE OF status ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_track_resolution();

-- Every analytics query reads one workspace's incidents detected in a range.
CREATE INDEX incidents_workspace_detected_idx ON incidents (workspace_id, detected_at);

-- The Slack channel (id) the weekly digest is posted to; none: no digest is posted.
ALTER TABLE warroom_settings ADD COLUMN announcement_channel text
    CHECK (announcement_channel IS NULL OR btrim(announcement_channel) <> '');

-- One row per digest event posted, so a redelivered event is not posted twice.
CREATE TABLE warroom_announcements (
    event_id      uuid        PRIMARY KEY,
    workspace_id  uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel_id    text        NOT NULL,
    ts            text        NOT NULL,
    posted_at     timestamptz NOT NULL DEFAULT now()
);
