-- The SLA watchdog (issue 5): the claim table of its calendar jobs and the partial indexes
-- its sweep reads through, so a sweep costs what is due, not the size of `incidents`.
--
-- "Responded" below means the first of acknowledged_at, mitigated_at, resolved_at and
-- closed_at: moving an incident on (even straight to RESOLVED) meets the acknowledge
-- target. "Finished" is the first of resolved_at and closed_at: it meets the resolve
-- target. The sweep's queries (services/sla-watchdog/src/sla/store.rs) repeat these
-- expressions exactly as written here, or the planner cannot use the indexes.

-- One row per occurrence of a calendar job (the daily digest), inserted with
-- ON CONFLICT DO NOTHING in the transaction that does the job's work: the replica whose
-- insert succeeds runs that occurrence, every other replica skips it, and a failed run
-- rolls its claim back so another replica (or a retry) can take it.
CREATE TABLE job_runs (
    job            text        NOT NULL CHECK (btrim(job) <> ''),
    -- the occurrence of the job's schedule, as the schedule computes it (UTC)
    scheduled_for  timestamptz NOT NULL,
    -- the replica that ran it, for operators
    claimed_by     text        NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, scheduled_for)
);

-- Incidents nobody has responded to yet, by acknowledge deadline: acknowledge breaches
-- (deadline passed) and acknowledge warnings (deadline ahead). Entries leave on the
-- first response, so the index holds the in-flight unanswered incidents only.
CREATE INDEX incidents_sla_unresponded_idx ON incidents (sla_deadline)
    WHERE acknowledged_at IS NULL AND mitigated_at IS NULL
      AND resolved_at IS NULL AND closed_at IS NULL
      AND sla_deadline IS NOT NULL;

-- Incidents answered after their acknowledge deadline, by the time of the answer: the
-- sweep looks back over a bounded horizon of these for a late response that landed
-- between two sweeps.
CREATE INDEX incidents_sla_responded_late_idx
    ON incidents ((LEAST(acknowledged_at, mitigated_at, resolved_at, closed_at)))
    WHERE LEAST(acknowledged_at, mitigated_at, resolved_at, closed_at) > sla_deadline;

-- Incidents not finished yet, by resolve deadline: resolve breaches and resolve warnings.
CREATE INDEX incidents_sla_unfinished_idx ON incidents (sla_resolve_deadline)
    WHERE resolved_at IS NULL AND closed_at IS NULL AND sla_resolve_deadline IS NOT NULL;

-- The longest span from detection to resolve deadline among open, unfinished incidents
-- (read as max(), one index probe): it bounds how far ahead a resolve warning can be
-- due. (The status condition is implied by the others; it is there so the planner never
-- takes this index for the resolve breach query, which wants the one above.)
CREATE INDEX incidents_sla_resolve_span_idx
    ON incidents ((sla_resolve_deadline - detected_at))
    WHERE status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
      AND resolved_at IS NULL AND closed_at IS NULL AND sla_resolve_deadline IS NOT NULL;

-- Open SEV1/SEV2 incidents by their last public update (or detection): the update
-- cadence applies to them only.
CREATE INDEX incidents_sla_update_base_idx
    ON incidents ((COALESCE(last_public_update_at, detected_at)))
    WHERE severity IN ('SEV1', 'SEV2')
      AND status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING');

-- Incidents finished after their resolve deadline, by the time they finished.
CREATE INDEX incidents_sla_finished_late_idx
    ON incidents ((LEAST(resolved_at, closed_at)))
    WHERE LEAST(resolved_at, closed_at) > sla_resolve_deadline;

-- Open action items past due that were not reported yet; a report removes the entry.
CREATE INDEX action_items_overdue_unflagged_idx ON action_items (due_date)
    WHERE status IN ('OPEN', 'IN_PROGRESS') AND due_date IS NOT NULL
      AND overdue_flagged_at IS NULL;

-- The digest's "breaches in the last day", across workspaces, drills left out. (Keyed
-- on `NOT is_drill` too, so the planner never mistakes it for the sweep's per-incident
-- probe, which belongs on the unique key sla_events_once_key.)
CREATE INDEX sla_events_breach_detected_idx ON sla_events (detected_at)
    WHERE kind = 'BREACH' AND NOT is_drill;
