-- Analytics (issue 10): the tables joined to a range's incidents are bounded by the range
-- too.
--
-- An analytics statement reads one workspace's incidents detected in a range (an
-- index-only scan of incidents_analytics_idx, 0083). Their services, postmortems and
-- action items carried no range, so each join read the workspace's whole history of
-- them (all 1,000,000 affected_services rows for a 90-day summary: 277 ms where the
-- bounded form takes 61 ms, BENCHMARKS.md). Each now carries its incident's
-- detected_at, copied when the row is written, and an index by workspace and that
-- instant holding the columns the statements read, so both sides of the join are range
-- scans.
--
-- An incident's detected_at is set when it is declared and nothing changes it after
-- (core's declare is its only writer); the trigger on incidents below keeps the copies
-- right should that ever change.

ALTER TABLE affected_services ADD COLUMN incident_detected_at timestamptz;
ALTER TABLE postmortems ADD COLUMN incident_detected_at timestamptz;
ALTER TABLE action_items ADD COLUMN incident_detected_at timestamptz;

UPDATE affected_services s SET incident_detected_at = i.detected_at
FROM incidents i WHERE i.id = s.incident_id;
UPDATE postmortems p SET incident_detected_at = i.detected_at
FROM incidents i WHERE i.id = p.incident_id;
UPDATE action_items a SET incident_detected_at = p.incident_detected_at
FROM postmortems p WHERE p.id = a.postmortem_id;

ALTER TABLE affected_services ALTER COLUMN incident_detected_at SET NOT NULL;
ALTER TABLE postmortems ALTER COLUMN incident_detected_at SET NOT NULL;
ALTER TABLE action_items ALTER COLUMN incident_detected_at SET NOT NULL;

-- The copy is taken from the incident (or the postmortem) on every insert and on a move
-- to another one, whatever the writer sent.
CREATE FUNCTION copy_incident_detected_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'action_items' THEN
        SELECT p.incident_detected_at INTO NEW.incident_detected_at
        FROM postmortems p WHERE p.id = NEW.postmortem_id;
    ELSE
        SELECT i.detected_at INTO NEW.incident_detected_at
        FROM incidents i WHERE i.id = NEW.incident_id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER affected_services_copy_detected_at
    BEFORE INSERT OR UPDATE OF incident_id ON affected_services
    FOR EACH ROW EXECUTE FUNCTION copy_incident_detected_at();
CREATE TRIGGER postmortems_copy_detected_at
    BEFORE INSERT OR UPDATE OF incident_id ON postmortems
    FOR EACH ROW EXECUTE FUNCTION copy_incident_detected_at();
CREATE TRIGGER action_items_copy_detected_at
    BEFORE INSERT OR UPDATE OF postmortem_id ON action_items
    FOR EACH ROW EXECUTE FUNCTION copy_incident_detected_at();

CREATE FUNCTION incidents_detected_at_copies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE affected_services SET incident_detected_at = NEW.detected_at
    WHERE incident_id = NEW.id;
    UPDATE postmortems SET incident_detected_at = NEW.detected_at
    WHERE incident_id = NEW.id;
    UPDATE action_items a SET incident_detected_at = NEW.detected_at
    FROM postmortems p WHERE p.incident_id = NEW.id AND a.postmortem_id = p.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER incidents_detected_at_copies AFTER UPDATE OF detected_at ON incidents
    FOR EACH ROW WHEN (OLD.detected_at IS DISTINCT FROM NEW.detected_at)
    EXECUTE FUNCTION incidents_detected_at_copies();

CREATE INDEX affected_services_analytics_idx
    ON affected_services (workspace_id, incident_detected_at)
    INCLUDE (incident_id, service_name);
CREATE INDEX postmortems_analytics_idx
    ON postmortems (workspace_id, incident_detected_at)
    INCLUDE (id, incident_id, status, published_at);
CREATE INDEX action_items_analytics_idx
    ON action_items (workspace_id, incident_detected_at)
    INCLUDE (postmortem_id, status, due_date, created_at, completed_at);
