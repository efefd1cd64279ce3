-- Analytics (issue 10): postmortems and action items join the rollups of 0095.
--
-- The follow-through of a range (postmortems drafted and published, resolve → publish,
-- action items open, overdue, done, created → done) was read live: over 90 days that
-- is every postmortem and action item of 80,000 incidents, about five times the cost
-- of everything else in the summary (BENCHMARKS.md). Each cell now also holds its
-- incidents' follow-through: counts, the sorted durations (medians stay exact when
-- merged), and the due dates of the items still open, sorted, so "overdue" (open and
-- due before today, a fact of the clock, not of the rows) is counted when read.
--
-- A postmortem or an action item written forgets its incident's day, as the other
-- tables of 0095 do (same lock, same "recent days return at once").
ALTER TABLE analytics_cells
    ADD COLUMN pm_drafted    int8     NOT NULL DEFAULT 0,
    ADD COLUMN pm_published  int8     NOT NULL DEFAULT 0,
    -- final resolution → publish of the published ones, seconds, sorted
    ADD COLUMN to_publish    float8[] NOT NULL DEFAULT '{}',
    ADD COLUMN items         int8     NOT NULL DEFAULT 0,
    ADD COLUMN items_open    int8     NOT NULL DEFAULT 0,
    ADD COLUMN items_done    int8     NOT NULL DEFAULT 0,
    ADD COLUMN items_wont_do int8     NOT NULL DEFAULT 0,
    -- created → completed of the done ones, seconds, sorted
    ADD COLUMN to_done       float8[] NOT NULL DEFAULT '{}',
    -- due dates of the open ones that have one, sorted
    ADD COLUMN open_due      date[]   NOT NULL DEFAULT '{}';

-- Cells built before this migration lack their follow-through: the watchdog builds
-- every day again.
DELETE FROM analytics_days;

CREATE FUNCTION follow_through_analytics_forget() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER postmortems_analytics_forget
    AFTER INSERT OR DELETE OR UPDATE OF status, published_at, incident_id, incident_detected_at, workspace_id
    ON postmortems
    FOR EACH ROW EXECUTE FUNCTION follow_through_analytics_forget();
CREATE TRIGGER action_items_analytics_forget
    AFTER INSERT OR DELETE
        OR UPDATE OF status, completed_at, created_at, due_date, postmortem_id, incident_detected_at, workspace_id
    ON action_items
    FOR EACH ROW EXECUTE FUNCTION follow_through_analytics_forget();
