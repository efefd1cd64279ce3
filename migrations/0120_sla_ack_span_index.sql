-- The longest span from detection to acknowledge deadline among open, unanswered
-- incidents (read as max(), one index probe): it bounds how far ahead an acknowledge
-- warning can be due, so the sweep's acknowledge-warning branch reads an index range
-- near now instead of every unanswered incident whose deadline is ahead (issue 18: with
-- 50,000 of them an idle sweep took 130-230 ms). Like incidents_sla_resolve_span_idx, the
-- status condition keeps the planner from taking this index for the breach branch.
CREATE INDEX incidents_sla_ack_span_idx
    ON incidents ((sla_deadline - detected_at))
    WHERE status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
      AND acknowledged_at IS NULL AND mitigated_at IS NULL
      AND resolved_at IS NULL AND closed_at IS NULL AND sla_deadline IS NOT NULL;
