-- Analytics (issue 10): figures of whole built weeks.
--
-- A year's weekly series merged every sorted value of 52 weeks of day cells (about
-- 10 MB of arrays for 1,000,000 incidents over 3 years, BENCHMARKS.md). A week whose
-- seven local days (Monday first, ISO) are all built gets its final figures once: per
-- severity and drill, and for all severities together, the counts and each duration's
-- count, mean, median, p90 and max, computed from its day cells exactly as a reader
-- would (incident_schema::analytics::rollup). A weekly series then reads one row per
-- whole week of its range and merges values only for its partial edge weeks and the days
-- not built yet.
--
-- A week goes when any of its days goes: forgetting a day (0095's triggers) deletes the
-- day's row, and this trigger deletes its week. The week builder takes the seven days'
-- advisory locks without waiting (pg_try_advisory_xact_lock; a week with a day being
-- written is tried again on the next pass), so it can never deadlock a writer, and reads
-- the cells only once it holds them all: a forget that commits later waits for it and
-- deletes what it built.
CREATE TABLE analytics_weeks (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- the local Monday
    week         date        NOT NULL,
    time_zone    text        NOT NULL,
    built_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, week)
);

CREATE TABLE analytics_week_cells (
    workspace_id uuid    NOT NULL,
    week         date    NOT NULL,
    -- SEV1..SEV4, or ALL for the severities together
    severity     text    NOT NULL,
    is_drill     boolean NOT NULL,
    -- rollup::Figures: the counts, and each duration's mean, median, p90 and max
    -- (NULL without a value), in the order rollup::Figures::to_columns gives them
    counts       int8[]   NOT NULL,
    stats        float8[] NOT NULL,
    PRIMARY KEY (workspace_id, week, severity, is_drill),
    FOREIGN KEY (workspace_id, week) REFERENCES analytics_weeks (workspace_id, week)
        ON DELETE CASCADE
);

CREATE FUNCTION analytics_days_forget_week() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_weeks
    WHERE workspace_id = OLD.workspace_id AND week = date_trunc('week', OLD.day)::date;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_days_forget_week AFTER DELETE ON analytics_days
    FOR EACH ROW EXECUTE FUNCTION analytics_days_forget_week();
