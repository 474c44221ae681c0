-- outbox-relay migration 4: a NULL payload is a tombstone (a Kafka message with a null value, which
-- deletes its key from a compacted topic).
--
-- Placeholders (see migration 1 and src/names.ts):
--   {{outbox}} "schema"."table"
--
-- Dropping NOT NULL is a catalog change: no scan, no rewrite (src/migrate.ts bounds its lock wait).
ALTER TABLE {{outbox}} ALTER COLUMN payload DROP NOT NULL;
