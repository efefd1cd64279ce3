-- Ingestion (issue 4), written by the ingestion service: what each alert group decided
-- and why, so grouping is explainable (`GET /api/v1/alert-groups/{id}`), and the indexes
-- the pipeline's decisions read through (storm throttling, joining a pending incident).
--
-- A group decides once it has a firing alert: DECLARE (it sent `incident.declare` with its
-- id as idempotency key), JOIN (it was, or will be, linked to another group's or an open
-- incident's incident with `incident.link_alert_group`) or NONE (no rule declared it; a
-- later firing alert may still make it decide). `incident_id` stays what core confirmed
-- (set from core's `incident.declared` / `incident.alert_group_linked` events).

CREATE TYPE alert_group_decision AS ENUM ('NONE', 'DECLARE', 'JOIN');

ALTER TABLE alert_groups
    -- the severity the matching declare rule chose
    ADD COLUMN severity       incident_severity,
    -- the affected service, from the rule's service label
    ADD COLUMN service        text,
    ADD COLUMN decision       alert_group_decision NOT NULL DEFAULT 'NONE',
    ADD COLUMN decided_at     timestamptz,
    -- JOIN while the incident is not known yet: the group whose incident this one joins
    -- once core reports it (a declare still in flight)
    ADD COLUMN join_group_id  uuid,
    -- why the group was grouped and why it declared, joined or did nothing
    ADD COLUMN explanation    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- alerts of the group currently firing; the group resolves when it reaches 0
    ADD COLUMN firing_count   integer NOT NULL DEFAULT 0 CHECK (firing_count >= 0),
    ADD CONSTRAINT alert_groups_firing_within_count CHECK (firing_count <= alert_count),
    ADD CONSTRAINT alert_groups_decided_stamped CHECK (decision = 'NONE' OR decided_at IS NOT NULL),
    ADD FOREIGN KEY (workspace_id, join_group_id) REFERENCES alert_groups (workspace_id, id)
        ON DELETE SET NULL (join_group_id);

-- Storm throttling and "the latest declared group" of an integration.
CREATE INDEX alert_groups_declared_idx ON alert_groups (integration_id, decided_at DESC)
    WHERE decision = 'DECLARE';
-- Declares still in flight, by service: a new group of the same service joins them.
CREATE INDEX alert_groups_pending_service_idx
    ON alert_groups (workspace_id, lower(service), decided_at DESC)
    WHERE decision = 'DECLARE' AND incident_id IS NULL;
-- Groups waiting for another group's incident.
CREATE INDEX alert_groups_waiting_idx ON alert_groups (join_group_id)
    WHERE join_group_id IS NOT NULL AND incident_id IS NULL;
-- Listing an integration's groups, newest first.
CREATE INDEX alert_groups_integration_opened_idx ON alert_groups (integration_id, opened_at DESC);

-- Serialises the ingest transactions that touch the same group keys of an integration:
-- one transaction-scoped advisory lock per key, taken in one fixed order so that two
-- notifications sharing keys queue instead of deadlocking. Every change to a group (and
-- to the alerts in it) happens under its key's lock, so counts and resolution are exact.
-- Returns the transaction's timestamp, the "now" of the whole ingest.
CREATE FUNCTION ingestion_lock_group_keys(integration uuid, keys text[]) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    h bigint;
BEGIN
    FOR h IN
        SELECT DISTINCT hashtextextended(integration::text || ':' || k, 0)
        FROM unnest(keys) AS k
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
    RETURN now();
END;
$$;
