-- Alert sources beyond Alertmanager, Grafana and the generic shape: PagerDuty's Events
-- API v2 (`pagerduty`), Grafana OnCall's formatted webhook (`grafana_oncall`) and
-- Opsgenie's Alert API (`opsgenie`). Added at the end, so the enum's order stays that of the Rust
-- `IntegrationKind` (shared/schema/tests/it/enums.rs). A value added here cannot be
-- used in this migration's own transaction; nothing here uses it.
ALTER TYPE integration_kind ADD VALUE IF NOT EXISTS 'pagerduty';
ALTER TYPE integration_kind ADD VALUE IF NOT EXISTS 'grafana_oncall';
ALTER TYPE integration_kind ADD VALUE IF NOT EXISTS 'opsgenie';

-- PagerDuty and Opsgenie clients are configured with a URL and a key only: the shared
-- `/webhooks/pagerduty/v2/enqueue` and `/webhooks/opsgenie/v2/alerts` find the
-- integration by its secret's hash.
CREATE INDEX IF NOT EXISTS integrations_secret_hash_idx ON integrations (secret_hash);
