-- The domain: workspaces and the people and tokens in them, incidents with their timeline,
-- affected services and SLA findings, alert integrations with their alerts and groups,
-- postmortems with their action items (ARCHITECTURE.md). Messaging tables (outbox, inbox)
-- are in 0002.
--
-- Conventions kept by every table here:
-- * Tenancy: every tenant table carries `workspace_id`, so every query can be scoped.
--   References between tenant rows are composite `(workspace_id, <id>)` foreign keys onto a
--   `UNIQUE (workspace_id, id)` of the parent, so the database itself refuses a row that
--   points at another workspace's incident, user, integration or postmortem.
-- * Deleting a workspace deletes everything in it. Deleting a user clears the optional
--   references to them (`ON DELETE SET NULL (<column>)`, Postgres 15) and removes their tokens.
-- * Timestamps are `timestamptz`; `updated_at` is maintained by a trigger.
-- * Enumerations are Postgres enum types, spelled as the Rust enums in `incident-schema`
--   serialise them. Their declaration order is meaningful where it says so.

-- ---------------------------------------------------------------------------------------
-- Enumerations
-- ---------------------------------------------------------------------------------------

-- SEV1 is the most severe. Declaration order: most to least severe.
CREATE TYPE incident_severity AS ENUM ('SEV1', 'SEV2', 'SEV3', 'SEV4');

-- The lifecycle, in its forward order (see IncidentStatus::allowed_next).
CREATE TYPE incident_status AS ENUM (
    'INVESTIGATING', 'IDENTIFIED', 'MONITORING', 'RESOLVED', 'CLOSED'
);

-- Who may see an incident: PRIVATE ones only to the people involved (and admins).
CREATE TYPE incident_visibility AS ENUM ('PUBLIC', 'PRIVATE');

-- What an affected service suffers, from worst to mildest.
CREATE TYPE service_impact AS ENUM ('TOTAL_OUTAGE', 'PARTIAL_OUTAGE', 'DEGRADED');

CREATE TYPE timeline_kind AS ENUM (
    'DETECTED',
    'ACKNOWLEDGED',
    'STATUS_CHANGE',
    'SEVERITY_CHANGED',
    'ROLE_ASSIGNED',
    'ROLE_CLEARED',
    'UPDATE',
    'NOTE',
    'MITIGATION',
    'RESOLUTION',
    'ALERT_LINKED',
    'ALERT_GROUP_RESOLVED',
    'SLA_WARNING',
    'SLA_BREACHED',
    'UPDATE_DUE',
    'WARROOM_OPENED',
    'POSTMORTEM_DRAFTED',
    'POSTMORTEM_PUBLISHED',
    'FIELD_CHANGED',
    'SERVICES_CHANGED'
);

-- What an API token may do in its workspace; each includes the ones before it.
CREATE TYPE access_role AS ENUM ('viewer', 'responder', 'admin');

-- What an SLA finding is about, and what kind of finding it is.
CREATE TYPE sla_target AS ENUM ('ACKNOWLEDGE', 'RESOLVE', 'UPDATE');
CREATE TYPE sla_event_kind AS ENUM ('WARNING', 'BREACH', 'UPDATE_DUE');

CREATE TYPE integration_kind AS ENUM ('alertmanager', 'grafana', 'generic');
CREATE TYPE alert_status AS ENUM ('FIRING', 'RESOLVED');
CREATE TYPE alert_group_status AS ENUM ('OPEN', 'RESOLVED');

CREATE TYPE postmortem_status AS ENUM ('DRAFT', 'IN_REVIEW', 'PUBLISHED');
CREATE TYPE action_item_status AS ENUM ('OPEN', 'IN_PROGRESS', 'DONE', 'WONT_DO');
-- P1 is the most urgent. Declaration order: most to least urgent, so ORDER BY priority
-- lists the urgent ones first.
CREATE TYPE action_item_priority AS ENUM ('P1', 'P2', 'P3', 'P4');

-- ---------------------------------------------------------------------------------------
-- Triggers shared by the tables below
-- ---------------------------------------------------------------------------------------

-- Stamps updated_at on every update that changes the row.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Workspaces, users, API tokens
-- ---------------------------------------------------------------------------------------

CREATE TABLE workspaces (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- used in URLs: lower-case letters, digits and inner hyphens
    slug                  text        NOT NULL UNIQUE
        CONSTRAINT workspaces_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    name                  text        NOT NULL CHECK (btrim(name) <> ''),
    -- The per-workspace incident counter. A number is taken inside the transaction that
    -- creates the incident with
    --   UPDATE workspaces SET last_incident_number = last_incident_number + 1
    --   WHERE id = $1 RETURNING last_incident_number
    -- (never max(number) + 1): the row lock serialises concurrent creators and a rolled
    -- back transaction gives its number back, so numbers are gap-free.
    last_incident_number  integer     NOT NULL DEFAULT 0 CHECK (last_incident_number >= 0),
    settings              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER workspaces_set_updated_at BEFORE UPDATE ON workspaces
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

CREATE TABLE users (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email          text        NOT NULL CHECK (position('@' IN email) > 1),
    display_name   text        NOT NULL CHECK (btrim(display_name) <> ''),
    slack_user_id  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_workspace_id_id_key UNIQUE (workspace_id, id)
);

-- One user per address and workspace, whatever the case (citext is not available).
CREATE UNIQUE INDEX users_workspace_email_key ON users (workspace_id, lower(email));
-- One user per Slack member and workspace; also the lookup for Slack interactions.
CREATE UNIQUE INDEX users_workspace_slack_user_key ON users (workspace_id, slack_user_id)
    WHERE slack_user_id IS NOT NULL;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- Bearer tokens: random, shown once, stored as their SHA-256 and looked up by it.
CREATE TABLE api_tokens (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- the person the token acts for; none for a service or bootstrap token
    user_id            uuid,
    name               text        NOT NULL CHECK (btrim(name) <> ''),
    role               access_role NOT NULL,
    -- may manage workspaces themselves, beyond its own workspace
    is_instance_admin  boolean     NOT NULL DEFAULT false,
    -- the first characters of the token, shown in listings so a person can tell them apart
    prefix             text        NOT NULL CHECK (prefix <> ''),
    token_hash         bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_used_at       timestamptz,
    revoked_at         timestamptz,
    expires_at         timestamptz,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);

CREATE INDEX api_tokens_workspace_idx ON api_tokens (workspace_id, created_at);

-- ---------------------------------------------------------------------------------------
-- Incidents
-- ---------------------------------------------------------------------------------------

CREATE TABLE incidents (
    id                     uuid                PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id           uuid                NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- per workspace, from workspaces.last_incident_number; shown as INC-<number>
    number                 integer             NOT NULL CHECK (number > 0),
    title                  text                NOT NULL CHECK (btrim(title) <> ''),
    description            text                NOT NULL DEFAULT '',
    severity               incident_severity   NOT NULL,
    status                 incident_status     NOT NULL DEFAULT 'INVESTIGATING',
    impact                 text,

    -- The lifecycle's timestamps. Each is stamped on the first arrival at its status
    -- (acknowledged_at also by an explicit acknowledge) and kept after a reopen.
    detected_at            timestamptz         NOT NULL DEFAULT now(),
    acknowledged_at        timestamptz,
    mitigated_at           timestamptz,
    resolved_at            timestamptz,
    closed_at              timestamptz,

    -- SLA: sla_deadline is the acknowledge deadline, sla_resolve_deadline the resolve
    -- deadline; both set at declaration from sla_policies and moved when severity changes.
    -- sla_breached is set by the watchdog when any deadline passed unmet.
    sla_breached           boolean             NOT NULL DEFAULT false,
    sla_deadline           timestamptz,
    sla_resolve_deadline   timestamptz,

    commander_id           uuid,
    tech_lead_id           uuid,
    comms_lead_id          uuid,

    slack_channel_id       text,
    slack_channel_url      text,

    root_cause             text,

    -- Incremented on every change by the trigger below; events carry it so a consumer
    -- mirroring state ignores an older version arriving late.
    version                bigint              NOT NULL DEFAULT 1 CHECK (version > 0),
    -- drills run the whole flow but are left out of analytics and SLA statistics
    is_drill               boolean             NOT NULL DEFAULT false,
    visibility             incident_visibility NOT NULL DEFAULT 'PUBLIC',
    declared_by            uuid,
    -- set by commands that create incidents (e.g. the alert group id), so a retried
    -- command never creates twice
    idempotency_key        text,
    -- the last public (status page) update, for the update cadence
    last_public_update_at  timestamptz,

    created_at             timestamptz         NOT NULL DEFAULT now(),
    updated_at             timestamptz         NOT NULL DEFAULT now(),

    CONSTRAINT incidents_workspace_number_key UNIQUE (workspace_id, number),
    CONSTRAINT incidents_workspace_id_id_key UNIQUE (workspace_id, id),
    -- A status implies its own first-arrival timestamp.
    CONSTRAINT incidents_status_stamped CHECK (
        (status <> 'IDENTIFIED' OR acknowledged_at IS NOT NULL)
        AND (status <> 'MONITORING' OR mitigated_at IS NOT NULL)
        AND (status <> 'RESOLVED' OR resolved_at IS NOT NULL)
        AND (status <> 'CLOSED' OR closed_at IS NOT NULL)
    ),
    FOREIGN KEY (workspace_id, commander_id) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (commander_id),
    FOREIGN KEY (workspace_id, tech_lead_id) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (tech_lead_id),
    FOREIGN KEY (workspace_id, comms_lead_id) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (comms_lead_id),
    FOREIGN KEY (workspace_id, declared_by) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (declared_by)
);

CREATE INDEX incidents_workspace_status_idx ON incidents (workspace_id, status);
CREATE INDEX incidents_severity_status_idx ON incidents (severity, status);
-- Listing, newest first.
CREATE INDEX incidents_workspace_created_idx ON incidents (workspace_id, created_at DESC);
-- The watchdog's acknowledge sweep: unacknowledged, not yet breached, by deadline.
CREATE INDEX incidents_ack_due_idx ON incidents (sla_deadline)
    WHERE acknowledged_at IS NULL AND NOT sla_breached;
-- The watchdog's resolve sweep: open incidents by resolve deadline.
CREATE INDEX incidents_resolve_due_idx ON incidents (sla_resolve_deadline)
    WHERE status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING');
-- One incident per idempotency key and workspace.
CREATE UNIQUE INDEX incidents_workspace_idempotency_key ON incidents (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- One incident per Slack channel; also the lookup for slash commands in a war room.
CREATE UNIQUE INDEX incidents_slack_channel_key ON incidents (slack_channel_id)
    WHERE slack_channel_id IS NOT NULL;

-- Every change stamps updated_at and increments version, whoever writes: an UPDATE that
-- also says `version = version + 1` still moves it by exactly one.
CREATE FUNCTION incidents_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incidents_touch BEFORE UPDATE ON incidents
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION incidents_touch();

CREATE TABLE incident_timeline (
    id            uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id   uuid          NOT NULL,
    workspace_id  uuid          NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- none for entries the system writes (SLA findings, alerts)
    author_id     uuid,
    kind          timeline_kind NOT NULL,
    message       text          NOT NULL,
    -- shown on the external status page
    is_public     boolean       NOT NULL DEFAULT false,
    -- structured details of the entry (old and new status, role and user, ...)
    data          jsonb         NOT NULL DEFAULT '{}'::jsonb,
    occurred_at   timestamptz   NOT NULL DEFAULT now(),
    created_at    timestamptz   NOT NULL DEFAULT now(),
    -- insertion order: breaks ties between entries written in one transaction, which
    -- share now()
    seq           bigint        NOT NULL GENERATED ALWAYS AS IDENTITY,
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, author_id) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (author_id)
);

CREATE INDEX incident_timeline_incident_idx ON incident_timeline (incident_id, occurred_at, seq);

CREATE TABLE affected_services (
    id            uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id   uuid           NOT NULL,
    workspace_id  uuid           NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    service_name  text           NOT NULL CHECK (btrim(service_name) <> ''),
    impact        service_impact NOT NULL,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    updated_at    timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT affected_services_incident_service_key UNIQUE (incident_id, service_name),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id)
        ON DELETE CASCADE
);

CREATE TRIGGER affected_services_set_updated_at BEFORE UPDATE ON affected_services
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------------------------------
-- SLA
-- ---------------------------------------------------------------------------------------

-- Targets per workspace and severity; a workspace is created with one row per severity.
CREATE TABLE sla_policies (
    id                      uuid              PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id            uuid              NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    severity                incident_severity NOT NULL,
    ack_target_minutes      integer           NOT NULL CHECK (ack_target_minutes > 0),
    resolve_target_minutes  integer           NOT NULL CHECK (resolve_target_minutes > 0),
    -- how often a public update is due while the incident is open; none: no cadence
    update_cadence_minutes  integer           CHECK (update_cadence_minutes > 0),
    -- the share of a target after which the watchdog warns
    warning_ratio           real              NOT NULL DEFAULT 0.8
        CHECK (warning_ratio > 0 AND warning_ratio < 1),
    created_at              timestamptz       NOT NULL DEFAULT now(),
    updated_at              timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT sla_policies_workspace_severity_key UNIQUE (workspace_id, severity)
);

CREATE TRIGGER sla_policies_set_updated_at BEFORE UPDATE ON sla_policies
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- The watchdog's findings. The unique key makes each finding happen once, however many
-- replicas sweep: the insert is the claim. `slot` numbers repeated findings of one kind
-- (the n-th missed update); 0 for one-off findings.
CREATE TABLE sla_events (
    id            uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id   uuid           NOT NULL,
    workspace_id  uuid           NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    target        sla_target     NOT NULL,
    kind          sla_event_kind NOT NULL,
    slot          integer        NOT NULL DEFAULT 0 CHECK (slot >= 0),
    -- the deadline the finding is about
    deadline      timestamptz    NOT NULL,
    detected_at   timestamptz    NOT NULL DEFAULT now(),
    -- copied from the incident so statistics can leave drills out without a join
    is_drill      boolean        NOT NULL DEFAULT false,
    CONSTRAINT sla_events_once_key UNIQUE (incident_id, target, kind, slot),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id)
        ON DELETE CASCADE
);

CREATE INDEX sla_events_workspace_detected_idx ON sla_events (workspace_id, detected_at);

-- ---------------------------------------------------------------------------------------
-- Alerts
-- ---------------------------------------------------------------------------------------

CREATE TABLE integrations (
    id                        uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id              uuid             NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind                      integration_kind NOT NULL,
    name                      text             NOT NULL CHECK (btrim(name) <> ''),
    -- SHA-256 of the webhook secret
    secret_hash               bytea            NOT NULL CHECK (octet_length(secret_hash) = 32),
    -- the declare rules: which alert groups become incidents, at which severity
    rules                     jsonb            NOT NULL DEFAULT '[]'::jsonb,
    -- the label (or template) alerts are grouped by; none: the source's own grouping
    grouping_key              text,
    -- a storm guard: at most this many incidents declared per minute; none: no limit
    max_incidents_per_minute  integer          CHECK (max_incidents_per_minute > 0),
    created_at                timestamptz      NOT NULL DEFAULT now(),
    updated_at                timestamptz      NOT NULL DEFAULT now(),
    disabled_at               timestamptz,
    CONSTRAINT integrations_workspace_name_key UNIQUE (workspace_id, name),
    CONSTRAINT integrations_workspace_id_id_key UNIQUE (workspace_id, id)
);

CREATE TRIGGER integrations_set_updated_at BEFORE UPDATE ON integrations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

CREATE TABLE alert_groups (
    id              uuid               PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid               NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    integration_id  uuid               NOT NULL,
    group_key       text               NOT NULL,
    status          alert_group_status NOT NULL DEFAULT 'OPEN',
    title           text               NOT NULL,
    -- the labels every alert of the group shares
    labels          jsonb              NOT NULL DEFAULT '{}'::jsonb,
    -- the incident the group was declared as or linked to
    incident_id     uuid,
    alert_count     integer            NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    opened_at       timestamptz        NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    last_alert_at   timestamptz        NOT NULL DEFAULT now(),
    updated_at      timestamptz        NOT NULL DEFAULT now(),
    CONSTRAINT alert_groups_workspace_id_id_key UNIQUE (workspace_id, id),
    CONSTRAINT alert_groups_resolved_stamped CHECK (status <> 'RESOLVED' OR resolved_at IS NOT NULL),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations (workspace_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id)
        ON DELETE SET NULL (incident_id)
);

-- At most one open group per integration and key: a new alert joins it, or opens one.
CREATE UNIQUE INDEX alert_groups_open_key ON alert_groups (integration_id, group_key)
    WHERE status = 'OPEN';
CREATE INDEX alert_groups_incident_idx ON alert_groups (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX alert_groups_workspace_opened_idx ON alert_groups (workspace_id, opened_at DESC);

CREATE TRIGGER alert_groups_set_updated_at BEFORE UPDATE ON alert_groups
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- One row per alert (integration and fingerprint), updated as notifications repeat.
CREATE TABLE alerts (
    id                  uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        uuid         NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    integration_id      uuid         NOT NULL,
    -- the group it currently belongs to (a re-fired alert moves to the newly opened group)
    alert_group_id      uuid         NOT NULL,
    fingerprint         text         NOT NULL,
    status              alert_status NOT NULL,
    labels              jsonb        NOT NULL DEFAULT '{}'::jsonb,
    annotations         jsonb        NOT NULL DEFAULT '{}'::jsonb,
    starts_at           timestamptz  NOT NULL,
    ends_at             timestamptz,
    generator_url       text,
    -- the last notification as the source sent it
    raw                 jsonb        NOT NULL DEFAULT '{}'::jsonb,
    first_seen_at       timestamptz  NOT NULL DEFAULT now(),
    last_seen_at        timestamptz  NOT NULL DEFAULT now(),
    notification_count  integer      NOT NULL DEFAULT 1 CHECK (notification_count >= 0),
    CONSTRAINT alerts_integration_fingerprint_key UNIQUE (integration_id, fingerprint),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations (workspace_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, alert_group_id) REFERENCES alert_groups (workspace_id, id)
        ON DELETE CASCADE
);

CREATE INDEX alerts_alert_group_idx ON alerts (alert_group_id);

-- ---------------------------------------------------------------------------------------
-- Postmortems
-- ---------------------------------------------------------------------------------------

CREATE TABLE postmortems (
    id                  uuid              PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id         uuid              NOT NULL UNIQUE,
    workspace_id        uuid              NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    status              postmortem_status NOT NULL DEFAULT 'DRAFT',
    summary             text              NOT NULL DEFAULT '',
    what_happened       text              NOT NULL DEFAULT '',
    why_it_happened     text              NOT NULL DEFAULT '',
    what_went_well      text              NOT NULL DEFAULT '',
    what_went_poorly    text              NOT NULL DEFAULT '',
    where_we_got_lucky  text,
    impact_assessment   text              NOT NULL DEFAULT '',
    -- the incident's timeline as the postmortem tells it: [{"at": ..., "event": ...}]
    timeline            jsonb             NOT NULL DEFAULT '[]'::jsonb,
    -- how each section was made, e.g. {"summary": "llm", "what_happened": "template"}
    generation          jsonb             NOT NULL DEFAULT '{}'::jsonb,
    -- a person changed the draft: regenerating must not overwrite it
    edited_by_human     boolean           NOT NULL DEFAULT false,
    updated_by          uuid,
    published_at        timestamptz,
    -- changed after publishing
    amended_at          timestamptz,
    created_at          timestamptz       NOT NULL DEFAULT now(),
    updated_at          timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT postmortems_workspace_id_id_key UNIQUE (workspace_id, id),
    CONSTRAINT postmortems_published_stamped CHECK (status <> 'PUBLISHED' OR published_at IS NOT NULL),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, updated_by) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (updated_by)
);

CREATE INDEX postmortems_workspace_idx ON postmortems (workspace_id, created_at DESC);

CREATE TRIGGER postmortems_set_updated_at BEFORE UPDATE ON postmortems
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

CREATE TABLE action_items (
    id                  uuid                 PRIMARY KEY DEFAULT gen_random_uuid(),
    postmortem_id       uuid                 NOT NULL,
    workspace_id        uuid                 NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    description         text                 NOT NULL CHECK (btrim(description) <> ''),
    assignee_id         uuid,
    status              action_item_status   NOT NULL DEFAULT 'OPEN',
    priority            action_item_priority NOT NULL DEFAULT 'P3',
    due_date            date,
    -- the ticket tracking it elsewhere
    external_url        text,
    wont_do_reason      text,
    completed_at        timestamptz,
    -- when the watchdog reported it overdue, so it is reported once
    overdue_flagged_at  timestamptz,
    created_at          timestamptz          NOT NULL DEFAULT now(),
    updated_at          timestamptz          NOT NULL DEFAULT now(),
    CONSTRAINT action_items_done_stamped CHECK (status <> 'DONE' OR completed_at IS NOT NULL),
    CONSTRAINT action_items_wont_do_explained CHECK (status <> 'WONT_DO' OR wont_do_reason IS NOT NULL),
    FOREIGN KEY (workspace_id, postmortem_id) REFERENCES postmortems (workspace_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, assignee_id) REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (assignee_id)
);

CREATE INDEX action_items_postmortem_idx ON action_items (postmortem_id);
CREATE INDEX action_items_assignee_status_idx ON action_items (assignee_id, status);
-- Open items by due date: the overdue sweep and "what is due" listings.
CREATE INDEX action_items_open_due_idx ON action_items (due_date)
    WHERE status IN ('OPEN', 'IN_PROGRESS') AND due_date IS NOT NULL;

CREATE TRIGGER action_items_set_updated_at BEFORE UPDATE ON action_items
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
