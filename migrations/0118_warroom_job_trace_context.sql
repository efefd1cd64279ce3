-- The war room's jobs (0097) carry the trace context of the event that made them, so a
-- trace still follows an alert down to its Slack calls although the consumer acks before
-- a worker makes them: the W3C `traceparent`/`tracestate` pairs, as the outbox keeps them.
ALTER TABLE warroom_jobs ADD COLUMN trace_headers jsonb NOT NULL DEFAULT '{}';
