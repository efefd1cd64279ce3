-- Enterprise Grid organisation-wide installs (issue 17): oauth.v2.access with
-- is_enterprise_install = true grants one bot token for every team of the organisation,
-- with `team` null and `enterprise` set. Such a row has no team_id; a request from any
-- team of that enterprise routes to it unless that team has an installation of its own.
-- An org token must name the team a channel is created in (conversations.create and
-- conversations.list take team_id): channel_team_id, chosen when the install starts
-- (GET /slack/install?team=T…, kept with the OAuth state). One live org install per
-- enterprise.
ALTER TABLE slack_installations
    ADD COLUMN is_enterprise_install boolean NOT NULL DEFAULT false,
    ADD COLUMN channel_team_id text CHECK (channel_team_id <> ''),
    ALTER COLUMN team_id DROP NOT NULL,
    ADD CONSTRAINT slack_installations_team_or_org CHECK (
        CASE WHEN is_enterprise_install THEN team_id IS NULL AND enterprise_id IS NOT NULL
             ELSE team_id IS NOT NULL AND channel_team_id IS NULL END);

CREATE UNIQUE INDEX slack_installations_live_enterprise_key
    ON slack_installations (enterprise_id)
    WHERE uninstalled_at IS NULL AND is_enterprise_install;

ALTER TABLE slack_oauth_states
    ADD COLUMN channel_team_id text CHECK (channel_team_id <> '');
