-- Drills (issue 11): who started a run by hand (the API's token's user, the page's
-- session, `/incident drill`'s Slack user); NULL for a scheduled run or a token without
-- a person. A user of the run's own workspace, kept NULL if the user is deleted.

ALTER TABLE drill_runs ADD COLUMN started_by uuid;
ALTER TABLE drill_runs
    ADD CONSTRAINT drill_runs_started_by_fkey
    FOREIGN KEY (workspace_id, started_by) REFERENCES users (workspace_id, id)
    ON DELETE SET NULL (started_by);
