-- Analytics (issue 10): the range's incidents read from the index alone.
--
-- Every analytics statement reads one workspace's incidents detected in a range, and
-- only these columns of them. With the columns in the index, the read is an index-only
-- scan of consecutive leaf pages (once VACUUM has marked the table's pages all-visible)
-- instead of a visit to every heap page holding a range's incident. It replaces the
-- plain (workspace_id, detected_at) index of 0060, whose key it repeats.
--
-- The price: an update of an included column (acknowledged, mitigated, resolved,
-- closed, status, severity) is never a HOT update; most of those columns are already in
-- the SLA watchdog's indexes (0010), so lifecycle updates mostly were not HOT either.
CREATE INDEX incidents_analytics_idx ON incidents (workspace_id, detected_at)
    INCLUDE (id, number, is_drill, severity, status, acknowledged_at, mitigated_at,
             resolved_at, last_resolved_at, closed_at, sla_deadline, sla_resolve_deadline);

DROP INDEX incidents_workspace_detected_idx;
