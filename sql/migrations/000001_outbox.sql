-- outbox-relay migration 1: the outbox table, its pending index and the wake-up hint.
--
-- Placeholders are filled in by src/migrate.ts from src/names.ts (the one place that derives every
-- object name from OUTBOX_SCHEMA / OUTBOX_TABLE); they are already-quoted identifiers or literals:
--   {{outbox}}      "schema"."table"             the producer-facing table
--   {{pending_idx}} "table_pending_idx"          index name (unqualified, as CREATE INDEX wants)
--   {{wakeup}}      "schema"."table_wakeup"      which relays are idle and want a NOTIFY
--   {{notify_fn}}   "schema"."table_notify"      trigger function
--   {{notify_trg}}  "table_notify"               trigger name
--   {{channel}}     'schema.table'               NOTIFY channel (a literal)

-- The producer contract. An application writes, inside its own transaction:
--   INSERT INTO outbox (topic, key, payload, headers) VALUES ($1, $2, $3, $4)
-- seq:        outbox order. bigint identity values are handed out before commit, so rows can commit
--             out of seq order; the relay never uses "seq > last seen" and flags/deletes rows instead.
-- id:         the stable event id, sent as Kafka header `id` so consumers can deduplicate. Not unique-
--             indexed: a random-UUID btree would tax every insert, and the relay never looks rows up by it.
-- key:        the Kafka message key (NULL = no key). Rows sharing a key are published in order.
-- payload:    delivered to Kafka byte for byte (JSON text from SQL: convert_to('{"a":1}', 'UTF8')).
-- headers:    a JSON object of string values, sent as Kafka headers.
-- sent_at:    NULL while pending; set when the relay runs with --on-publish=mark.
CREATE TABLE {{outbox}} (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  topic      text        NOT NULL CHECK (topic <> '' AND length(topic) <= 249),
  key        text        NULL,
  payload    bytea       NOT NULL,
  headers    jsonb       NOT NULL DEFAULT '{}'::jsonb
             CHECK (jsonb_typeof(headers) = 'object'
                    AND NOT jsonb_path_exists(headers, '$.* ? (@.type() != "string")')),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at    timestamptz NULL
);

-- The claim query walks this index in seq order. It holds pending rows only, so it stays small however
-- many published rows accumulate in mark mode (and in delete mode it is as small as the backlog).
CREATE INDEX {{pending_idx}} ON {{outbox}} (seq) WHERE sent_at IS NULL;

-- Wake-up hint without taxing the application's commits.
-- A transaction that issues NOTIFY takes a cluster-wide lock held until its commit is flushed, which
-- serialises all notifying commits (one NOTIFY per transaction cut single-row inserts to ~31 % here).
-- So the trigger notifies only while some relay has declared itself idle (waiting_until in the future);
-- a busy relay is not waiting and needs no hint, and a dead relay's row expires by itself.
-- See docs/wakeup.md for the measurement and the race this leaves (covered by the poll interval).
CREATE TABLE {{wakeup}} (
  relay_id      text        PRIMARY KEY,
  waiting_until timestamptz NOT NULL
);

CREATE FUNCTION {{notify_fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM {{wakeup}} WHERE waiting_until > now()) THEN
    PERFORM pg_notify({{channel}}, '');
  END IF;
  RETURN NULL;
END
$fn$;

-- Statement level: a multi-row INSERT costs one check, and PostgreSQL folds repeated identical
-- notifications inside one transaction into one.
CREATE TRIGGER {{notify_trg}} AFTER INSERT ON {{outbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{notify_fn}}();
