-- Analytics (issue 10): rollups of whole past days, exact and kept right under late
-- events.
--
-- A year's weekly series reads 337,000 incidents; computed live it cannot answer in
-- 200 ms on a 2-core machine (BENCHMARKS.md). So a day's incidents, once the day has
-- ended more than 8 days ago (in the workspace's time zone), are summarised in cells:
-- one per (day, severity, drill), holding counts and, for every duration, the sorted
-- values themselves, so medians and p90s over any set of days stay exact (they are
-- computed from the merged values, not from per-day medians). Days not rolled up, and
-- the partial days at a range's edges, are read live; the two are merged.
--
-- Correctness under late events (a reopen moves MTTR, a finding, a service added, a
-- close weeks later): a trigger on every table a cell is computed from forgets the
-- cell's day (deletes analytics_days' row; its cells go with it), and a later build
-- makes it again. Builder and triggers are ordered by a per-day advisory lock: the
-- builder takes it exclusively and computes the day in a statement started after it
-- got the lock (READ COMMITTED: a snapshot taken after every earlier writer of the
-- day committed); a trigger takes it shared before deleting, so a writer that commits
-- after the builder's snapshot waits for the builder and deletes what it built.
-- Triggers on rows of recent days (within about a week of now, where no cell can
-- exist) return at once and lock nothing, so the hot path of a burning incident pays a
-- comparison.
--
-- What cells leave out, because it depends on the clock or on settings rather than on
-- the rows: a day is built only when every deadline of its incidents has passed (an
-- open incident before its deadline has neither met nor missed it); the update cadence
-- share is stored as "found an update due or not" per cell and the policy applied when
-- read; overdue action items, postmortems and alert load are always read live. A day
-- cut in another time zone than the workspace's current one is ignored by readers and
-- rebuilt.
--
-- The watchdog builds the cells (incident_schema::analytics::rollup); every reader of
-- analytics reads them.

CREATE TABLE analytics_days (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day          date        NOT NULL,
    -- the zone the day was cut in
    time_zone    text        NOT NULL,
    built_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day)
);

CREATE TABLE analytics_cells (
    workspace_id   uuid      NOT NULL,
    day            date      NOT NULL,
    severity       incident_severity NOT NULL,
    is_drill       boolean   NOT NULL,
    incidents      int8      NOT NULL,
    -- by current status, in the order INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED,
    -- CLOSED
    by_status      int8[]    NOT NULL,
    -- declared by an alert group's rule
    from_alert     int8      NOT NULL,
    -- the durations, in seconds, sorted, NULLs left out
    ack            float8[]  NOT NULL,
    mit            float8[]  NOT NULL,
    res            float8[]  NOT NULL,
    clo            float8[]  NOT NULL,
    ack_met        int8      NOT NULL,
    ack_missed     int8      NOT NULL,
    res_met        int8      NOT NULL,
    res_missed     int8      NOT NULL,
    -- incidents without / with an update found due (the cadence share is decided by
    -- the policy when read)
    no_update_due  int8      NOT NULL,
    update_due     int8      NOT NULL,
    breaches       int8      NOT NULL,
    ack_breaches   int8      NOT NULL,
    res_breaches   int8      NOT NULL,
    warnings       int8      NOT NULL,
    updates_due    int8      NOT NULL,
    -- the five slowest resolved (seconds descending, then number)
    slow_ids       uuid[]    NOT NULL,
    slow_numbers   int4[]    NOT NULL,
    slow_seconds   float8[]  NOT NULL,
    PRIMARY KEY (workspace_id, day, severity, is_drill),
    FOREIGN KEY (workspace_id, day) REFERENCES analytics_days (workspace_id, day)
        ON DELETE CASCADE
);

CREATE TABLE analytics_service_cells (
    workspace_id   uuid      NOT NULL,
    day            date      NOT NULL,
    severity       incident_severity NOT NULL,
    is_drill       boolean   NOT NULL,
    -- lower(service_name)
    service_key    text      NOT NULL,
    -- the spelling that sorts first bytewise
    service_name   text      NOT NULL,
    incidents      int8      NOT NULL,
    PRIMARY KEY (workspace_id, day, severity, is_drill, service_key),
    FOREIGN KEY (workspace_id, day) REFERENCES analytics_days (workspace_id, day)
        ON DELETE CASCADE
);

-- The advisory lock key of a workspace's day.
CREATE FUNCTION analytics_day_lock_key(ws uuid, d date) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('analytics-day:' || ws::text || ':' || d::text, 0)
$$;

-- Forgets the day an incident detected at `detected` belongs to, unless that day is
-- too recent to have been built.
CREATE FUNCTION analytics_forget(ws uuid, detected timestamptz) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    tz text;
    d date;
    today date;
BEGIN
    IF ws IS NULL OR detected IS NULL THEN
        RETURN;
    END IF;
    -- Local days differ from UTC ones by at most 14 hours: a detection within the last
    -- 6 days is on a local day the builder leaves alone (it builds days ended more than
    -- 8 days ago, and never one within a week of today).
    IF detected > now() - interval '6 days' AND detected < now() + interval '1 day' THEN
        RETURN;
    END IF;
    SELECT w.time_zone INTO tz FROM workspaces w WHERE w.id = ws;
    tz := COALESCE(tz, 'UTC');
    d := (detected AT TIME ZONE tz)::date;
    today := (now() AT TIME ZONE tz)::date;
    IF d BETWEEN today - 7 AND today + 1 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(analytics_day_lock_key(ws, d));
    DELETE FROM analytics_days WHERE workspace_id = ws AND day = d;
END
$$;

CREATE FUNCTION incidents_analytics_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM analytics_forget(OLD.workspace_id, OLD.detected_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF TG_OP = 'INSERT' OR NEW.detected_at IS DISTINCT FROM OLD.detected_at
           OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id THEN
            PERFORM analytics_forget(NEW.workspace_id, NEW.detected_at);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER incidents_analytics_forget_insert AFTER INSERT OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_analytics_forget();
CREATE TRIGGER incidents_analytics_forget_update AFTER UPDATE ON incidents
    FOR EACH ROW WHEN (
        (OLD.workspace_id, OLD.detected_at, OLD.number, OLD.severity, OLD.status, OLD.is_drill,
         OLD.acknowledged_at, OLD.mitigated_at, OLD.resolved_at, OLD.last_resolved_at,
         OLD.closed_at, OLD.sla_deadline, OLD.sla_resolve_deadline)
        IS DISTINCT FROM
        (NEW.workspace_id, NEW.detected_at, NEW.number, NEW.severity, NEW.status, NEW.is_drill,
         NEW.acknowledged_at, NEW.mitigated_at, NEW.resolved_at, NEW.last_resolved_at,
         NEW.closed_at, NEW.sla_deadline, NEW.sla_resolve_deadline))
    EXECUTE FUNCTION incidents_analytics_forget();

-- The findings, the services and the declaring alert groups of an incident: forget its
-- day (looked up through the incident, or the copy 0094 keeps).

CREATE FUNCTION analytics_forget_incident(ws uuid, incident uuid) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    detected timestamptz;
BEGIN
    IF incident IS NULL THEN
        RETURN;
    END IF;
    SELECT i.detected_at INTO detected FROM incidents i WHERE i.id = incident;
    PERFORM analytics_forget(ws, detected);
END
$$;

CREATE FUNCTION sla_events_analytics_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM analytics_forget_incident(OLD.workspace_id, OLD.incident_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM analytics_forget_incident(NEW.workspace_id, NEW.incident_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_events_analytics_forget AFTER INSERT OR UPDATE OR DELETE ON sla_events
    FOR EACH ROW EXECUTE FUNCTION sla_events_analytics_forget();

CREATE FUNCTION affected_services_analytics_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM analytics_forget(OLD.workspace_id, OLD.incident_detected_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM analytics_forget(NEW.workspace_id, NEW.incident_detected_at);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER affected_services_analytics_forget
    AFTER INSERT OR DELETE OR UPDATE OF service_name, incident_id, incident_detected_at
    ON affected_services
    FOR EACH ROW EXECUTE FUNCTION affected_services_analytics_forget();

-- Only a group that declared counts (an incident "from an alert").
CREATE FUNCTION alert_groups_analytics_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.decision = 'DECLARE' THEN
        PERFORM analytics_forget_incident(OLD.workspace_id, OLD.incident_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.decision = 'DECLARE' THEN
        PERFORM analytics_forget_incident(NEW.workspace_id, NEW.incident_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER alert_groups_analytics_forget_insert AFTER INSERT OR DELETE ON alert_groups
    FOR EACH ROW EXECUTE FUNCTION alert_groups_analytics_forget();
CREATE TRIGGER alert_groups_analytics_forget_update AFTER UPDATE ON alert_groups
    FOR EACH ROW WHEN ((OLD.incident_id, OLD.decision) IS DISTINCT FROM (NEW.incident_id, NEW.decision))
    EXECUTE FUNCTION alert_groups_analytics_forget();
