-- Private incidents: who may read one.
--
-- A PRIVATE incident is readable by workspace admins, its role holders and its members
-- (people added explicitly; core adds the declarer). Everyone else is told it does not
-- exist. The rule lives here once, as `incident_readable`, so every service's query
-- applies the same one (`WHERE incident_readable(i, $reader, $is_admin)`).

CREATE TABLE incident_members (
    workspace_id  uuid        NOT NULL,
    incident_id   uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    added_by      uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, user_id),
    FOREIGN KEY (workspace_id, incident_id) REFERENCES incidents (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, added_by) REFERENCES users (workspace_id, id) ON DELETE SET NULL (added_by)
);

-- "Which private incidents may this person read" walks members by user.
CREATE INDEX incident_members_user_idx ON incident_members (workspace_id, user_id);

-- Whether `reader` (a user id, NULL for a token without a person) may read `i`.
-- STABLE and a single expression, so the planner inlines it into the caller's query.
CREATE FUNCTION incident_readable(i incidents, reader uuid, reader_is_admin boolean)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT i.visibility = 'PUBLIC'
        OR reader_is_admin
        OR (reader IS NOT NULL AND (
               reader = i.commander_id
            OR reader = i.tech_lead_id
            OR reader = i.comms_lead_id
            OR EXISTS (SELECT 1 FROM incident_members m
                       WHERE m.incident_id = i.id AND m.user_id = reader)))
$$;

-- Audited changes of who can see an incident.
ALTER TYPE timeline_kind ADD VALUE 'MEMBER_ADDED';
ALTER TYPE timeline_kind ADD VALUE 'MEMBER_REMOVED';
ALTER TYPE timeline_kind ADD VALUE 'VISIBILITY_CHANGED';
