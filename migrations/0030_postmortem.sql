-- Postmortems (issue 7), written by the postmortem service: per-workspace postmortem
-- settings (when a draft is made, what the optional LLM may be shown, the workspace's own
-- Markdown template), and the computed facts each draft's impact assessment was written
-- from.
--
-- A workspace without a settings row uses the defaults of the columns below: a draft on
-- resolve, nothing private or internal sent to an LLM, the built-in Markdown template.

-- When the postmortem service drafts a postmortem without being asked.
--   ON_RESOLVE: when the incident reaches RESOLVED (or CLOSED, if it skipped RESOLVED);
--   ON_CLOSE:   when it reaches CLOSED;
--   ON_REQUEST: only on `POST /api/v1/incidents/{id}/postmortem` or `postmortem.generate`.
CREATE TYPE postmortem_draft_trigger AS ENUM ('ON_RESOLVE', 'ON_CLOSE', 'ON_REQUEST');

CREATE TABLE postmortem_settings (
    workspace_id        uuid                     PRIMARY KEY
        REFERENCES workspaces (id) ON DELETE CASCADE,
    draft_trigger       postmortem_draft_trigger NOT NULL DEFAULT 'ON_RESOLVE',
    -- PRIVATE incidents may be drafted by the LLM (otherwise they never leave the system)
    llm_allow_private   boolean                  NOT NULL DEFAULT false,
    -- internal timeline entries (is_public = false) may be shown to the LLM
    llm_allow_internal  boolean                  NOT NULL DEFAULT false,
    -- the workspace's minijinja Markdown template, validated when saved; none: built-in
    markdown_template   text
        CHECK (markdown_template IS NULL OR btrim(markdown_template) <> ''),
    template_updated_at timestamptz,
    updated_by          uuid,
    created_at          timestamptz              NOT NULL DEFAULT now(),
    updated_at          timestamptz              NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, updated_by) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (updated_by)
);

CREATE TRIGGER postmortem_settings_set_updated_at BEFORE UPDATE ON postmortem_settings
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- The facts the draft's impact assessment was computed from (stage timestamps and
-- durations, SLA targets met or breached, affected services, alert groups with their
-- alert counts), frozen with the draft like its timeline. `impact_assessment` is the text
-- people edit; this stays as computed.
ALTER TABLE postmortems ADD COLUMN impact jsonb NOT NULL DEFAULT '{}'::jsonb;

-- The action item listing (`GET /api/v1/action-items`) is per workspace, by status.
CREATE INDEX action_items_workspace_status_idx ON action_items (workspace_id, status);
