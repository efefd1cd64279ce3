-- Outbound webhooks (core, `services/core/src/webhooks/`): per-workspace subscriptions to
-- event types, one delivery per (subscription, event), and the attempts of each delivery.
-- Deliveries are signed as the Standard Webhooks specification says; the secret is kept
-- in clear because signing needs it (like an HMAC key anywhere), never shown after it is
-- issued.

CREATE TABLE webhook_subscriptions (
    id                         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id               uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url                        text        NOT NULL CHECK (url ~ '^https?://'),
    description                text        NOT NULL DEFAULT '',
    -- Exact contract event names, or '*' for every event.
    event_types                text[]      NOT NULL CHECK (cardinality(event_types) > 0),
    -- Whether events about PRIVATE incidents are delivered (they are not by default).
    include_private            boolean     NOT NULL DEFAULT false,
    -- `whsec_` + base64 of the random key.
    secret                     text        NOT NULL CHECK (secret LIKE 'whsec\_%'),
    -- The secret before the last rotation: deliveries are signed with both until it expires.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    enabled                    boolean     NOT NULL DEFAULT true,
    disabled_at                timestamptz,
    disabled_reason            text,
    -- Deliveries in a row that ended `failed` (retried for their whole window) since the
    -- last success; the sender disables the subscription when it reaches its limit.
    consecutive_failures       integer     NOT NULL DEFAULT 0,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

CREATE INDEX webhook_subscriptions_workspace_idx ON webhook_subscriptions (workspace_id, created_at);

CREATE TYPE webhook_delivery_status AS ENUM ('pending', 'delivered', 'failed');

-- One event for one subscription. `id` orders them: deliveries about the same incident
-- are sent oldest first, each only once the one before it is settled.
CREATE TABLE webhook_deliveries (
    id               bigserial   PRIMARY KEY,
    subscription_id  uuid        NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The bus envelope's id: the `webhook-id` header, stable across retries.
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    incident_id      uuid,
    -- The exact body sent (the Standard Webhooks envelope), so every retry sends the same bytes.
    payload          text        NOT NULL,
    status           webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Start of the retry window: failed once an attempt fails after the window closes.
    -- Re-enabling a subscription or retrying by hand restarts it.
    retry_from       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    -- A redelivered bus message (or a second consumer) makes no second delivery.
    UNIQUE (subscription_id, event_id)
);

-- The sender's claim: due pending deliveries, and the head of each incident's chain.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_chain_idx ON webhook_deliveries (subscription_id, incident_id, id)
    WHERE status = 'pending' AND incident_id IS NOT NULL;
-- The delivery log, newest first.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (subscription_id, id DESC);

-- Every attempt of a delivery and the receiver's answer (the log shows the last ones).
CREATE TABLE webhook_attempts (
    id           bigserial   PRIMARY KEY,
    delivery_id  bigint      NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    -- The first KiB of the answer's body.
    response     text,
    error        text,
    duration_ms  integer     NOT NULL
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id DESC);

-- Wakes the senders (LISTEN webhook_deliveries) when deliveries are written; NOTIFY is
-- delivered on commit only, so a sender never looks before the rows are visible.
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('webhook_deliveries', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_deliveries_after_insert
    AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();
