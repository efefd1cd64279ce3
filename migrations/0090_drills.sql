-- Drills (issue 11): scenarios a workspace uploads, the runs of them and the steps each
-- run plays. The SLA watchdog writes all three; core, ingestion and the war room only read.

CREATE TABLE drill_scenarios (
    id            uuid        PRIMARY KEY,
    workspace_id  uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    -- the file as uploaded, and what incident_schema::drill::parse made of it
    source        text        NOT NULL,
    parsed        jsonb       NOT NULL,
    -- a 6-field cron expression (UTC); none: started by hand only
    schedule      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

CREATE TYPE drill_run_state AS ENUM ('running', 'completed', 'cancelled', 'timed_out');

CREATE TABLE drill_runs (
    id               uuid            PRIMARY KEY,
    workspace_id     uuid            NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scenario_id      uuid            NOT NULL REFERENCES drill_scenarios (id) ON DELETE CASCADE,
    state            drill_run_state NOT NULL DEFAULT 'running',
    started_at       timestamptz     NOT NULL DEFAULT now(),
    -- when it times out while running; when it ended once it did
    ends_at          timestamptz     NOT NULL,
    ended_at         timestamptz,
    -- the scenario as it was when the run started (an edit does not change a run)
    scenario         jsonb           NOT NULL,
    -- the integration its synthetic alerts go through, if it has any
    integration_id   uuid,
    -- the drill incident, once the run has seen it declared
    incident_id      uuid,
    -- `drill:<run id>`, the declare's idempotency key; or the schedule occurrence
    idempotency_key  text            NOT NULL UNIQUE,
    score            jsonb,
    CHECK ((state = 'running') = (ended_at IS NULL))
);

CREATE INDEX drill_runs_scenario_idx ON drill_runs (scenario_id, started_at DESC);
CREATE INDEX drill_runs_running_idx ON drill_runs (ends_at) WHERE state = 'running';

CREATE TABLE drill_run_steps (
    run_id      uuid        NOT NULL REFERENCES drill_runs (id) ON DELETE CASCADE,
    step_index  int         NOT NULL CHECK (step_index >= 0),
    due_at      timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (run_id, step_index)
);

-- The runner's claim: steps due and not played yet.
CREATE INDEX drill_run_steps_due_idx ON drill_run_steps (due_at) WHERE done_at IS NULL;
