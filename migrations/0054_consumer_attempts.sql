-- Deliveries a consumer started, counted only for redelivered messages.
--
-- RabbitMQ 3.x counts a message returned by a closed channel (prefetched, never started)
-- as a failed delivery, so a few connection cuts in a row dead-letter messages no
-- consumer ever tried. The queues' broker-side delivery limit is therefore only a
-- backstop; the consumer itself dead-letters a message once it has *started* it more
-- than its limit without finishing (a message that kills its worker every time).
CREATE TABLE consumer_attempts (
    consumer    text        NOT NULL,
    message_id  text        NOT NULL,
    attempts    integer     NOT NULL CHECK (attempts > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE INDEX consumer_attempts_updated_idx ON consumer_attempts (updated_at);
