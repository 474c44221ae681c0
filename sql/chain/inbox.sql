-- outbox-relay chain: the consumer inbox's processed-events table (outbox-relay/inbox, migrate()).
-- Placeholders, filled in by src/chain/sql.ts with quoted identifiers:
--   {{table}}      "schema"."table"
--   {{schema}}     "schema"
--   {{age_idx}}    "table_age_idx"   (unqualified)
--
-- One line per (consumer, event id) this consumer has processed, inserted in the same transaction as
-- the handler's own writes: the primary key is the arbiter. A second delivery of the id conflicts
-- and is skipped; a concurrent one waits for the first transaction and then sees it done.
-- Safe to run again (IF NOT EXISTS).
CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{table}} (
  consumer     text        NOT NULL,
  event_id     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
-- Retention: purge() deletes lines older than the redelivery window, oldest first, in batches.
CREATE INDEX IF NOT EXISTS {{age_idx}} ON {{table}} (processed_at);
