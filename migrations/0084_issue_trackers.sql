-- Issue trackers (postmortem service): a workspace's Jira or Linear, to which action items
-- are exported, and the link each exported item keeps to its remote issue.

-- One tracker per workspace. The credential (Jira API token or personal access token,
-- Linear API key) is sealed with INCIDENT_SECRETS_KEY (shared/runtime `sealed`), bound to
-- the workspace; it is never read back through the API.
CREATE TABLE issue_trackers (
    workspace_id  uuid        PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('jira', 'linear')),
    -- Jira: the site (https://acme.atlassian.net or a Server/Data Center base URL);
    -- Linear: the GraphQL endpoint (https://api.linear.app/graphql by default).
    base_url      text        NOT NULL CHECK (base_url ~ '^https?://'),
    -- Jira: 'cloud' (REST v3, basic auth with email and API token) or 'server' (REST v2,
    -- bearer personal access token); NULL for Linear.
    jira_flavor   text        CHECK (jira_flavor IN ('cloud', 'server')),
    -- Jira Cloud: the account's email.
    username      text,
    credential    bytea       NOT NULL,
    -- Jira: the project key (OPS); Linear: the team id.
    project       text        NOT NULL CHECK (btrim(project) <> ''),
    -- Jira: the issue type's name (Task); NULL for Linear.
    issue_type    text,
    -- Export every new action item on creation.
    auto_export   boolean     NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    uuid,
    CHECK ((kind = 'jira') = (jira_flavor IS NOT NULL AND issue_type IS NOT NULL)),
    CHECK (jira_flavor IS DISTINCT FROM 'cloud' OR username IS NOT NULL)
);

-- An action item's remote issue. A row is written when the export is asked for (by the
-- API or, with auto_export, in the transaction that creates the item), so a crash between
-- the request and the remote call loses nothing: the exporter retries rows without a
-- remote key. `attempts` is committed before each remote call; an attempt after one that
-- may have created the issue first looks for it by `marker` (a Jira label, a line of the
-- Linear description), so a retry never files it twice.
CREATE TABLE action_item_links (
    action_item_id  uuid        PRIMARY KEY REFERENCES action_items (id) ON DELETE CASCADE,
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('jira', 'linear')),
    marker          text        NOT NULL,
    -- The remote issue, once created: Jira's id and key (OPS-12), Linear's id and
    -- identifier (ENG-12); its web URL.
    remote_id       text,
    remote_key      text,
    remote_url      text,
    -- The remote state as last seen (Jira's status name, Linear's state name), and
    -- whether the tracker counts it as done (Jira's status category `done`, Linear's
    -- state type `completed`).
    remote_status   text,
    remote_done     boolean     NOT NULL DEFAULT false,
    synced_at       timestamptz,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    CHECK ((remote_id IS NULL) = (remote_key IS NULL))
);

-- The exporter's queue: links not created yet, by when they are due.
CREATE INDEX action_item_links_pending_idx ON action_item_links (next_attempt_at)
    WHERE remote_id IS NULL;
-- The poller: created links, by the oldest sync.
CREATE INDEX action_item_links_created_idx ON action_item_links (synced_at NULLS FIRST)
    WHERE remote_id IS NOT NULL;
