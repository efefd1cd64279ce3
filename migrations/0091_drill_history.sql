-- Drills (issue 11): deleting a scenario keeps its runs' history, and a step that cannot
-- be played is recorded as failed (with its reason) instead of holding back the steps
-- after it.
--
-- A run already copies its scenario (source and parse) at the start; it now copies the
-- scenario's name too, and `scenario_id` is set to NULL when the scenario is deleted
-- (was ON DELETE CASCADE, which deleted the runs, their steps and their scores).

ALTER TABLE drill_runs ADD COLUMN scenario_name text;
UPDATE drill_runs r SET scenario_name = s.name FROM drill_scenarios s WHERE s.id = r.scenario_id;
ALTER TABLE drill_runs ALTER COLUMN scenario_name SET NOT NULL;

ALTER TABLE drill_runs ALTER COLUMN scenario_id DROP NOT NULL;
ALTER TABLE drill_runs DROP CONSTRAINT drill_runs_scenario_id_fkey;
ALTER TABLE drill_runs ADD CONSTRAINT drill_runs_scenario_id_fkey
    FOREIGN KEY (scenario_id) REFERENCES drill_scenarios (id) ON DELETE SET NULL;

-- The API lists a workspace's runs newest first.
CREATE INDEX drill_runs_workspace_idx ON drill_runs (workspace_id, started_at DESC, id DESC);

-- A step is settled once: played (done_at, no failure) or failed (done_at and the reason).
ALTER TABLE drill_run_steps ADD COLUMN failure text;
ALTER TABLE drill_run_steps ADD CONSTRAINT drill_run_steps_failure_settled
    CHECK (failure IS NULL OR done_at IS NOT NULL);
