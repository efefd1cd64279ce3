-- The transactional outbox and the idempotent inbox (ARCHITECTURE.md, "Messaging").
--
-- outbox: every service writes its events here in the same transaction as the state
-- change; its relay publishes them with publisher confirms and stamps published_at.
-- inbox: every consumer records the message ids whose effects it committed, in the
-- same transaction as the effect, so a redelivery is acknowledged without effect.

CREATE TABLE outbox (
    -- the envelope id (UUID v7, time ordered), so the relay can publish in id order
    id            uuid        PRIMARY KEY,
    -- the service whose relay publishes this row (one writer per table: its own events)
    publisher     text        NOT NULL,
    exchange      text        NOT NULL,
    routing_key   text        NOT NULL,
    message_type  text        NOT NULL,
    -- the whole envelope, as it goes on the wire
    payload       jsonb       NOT NULL,
    -- W3C trace context captured when the row was written (traceparent, tracestate)
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- commands must reach an owner: published with `mandatory`, an unroutable one is an error
    mandatory     boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    -- after a failed publish (unroutable command, nack) the row waits until then, so a
    -- stuck row never blocks the rows behind it
    next_attempt_at timestamptz
);

-- The relay's claim: the oldest unpublished rows of one publisher.
CREATE INDEX outbox_pending_idx ON outbox (publisher, id) WHERE published_at IS NULL;
-- The pruner: published rows by age.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the publisher's relay when rows are written; NOTIFY is delivered on commit only,
-- so a rolled-back transaction wakes nobody. One notification per statement.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', p.publisher)
    FROM (SELECT DISTINCT publisher FROM new_rows) AS p;
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify_after_insert
    AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox (
    consumer     text        NOT NULL,
    -- the envelope id; text, because alert sources publishing to alerts.ingest choose their own ids
    message_id   text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE INDEX inbox_received_idx ON inbox (received_at);
