-- outbox-relay, debezium mapping, migration 1: what the relay needs beside a Debezium-style outbox
-- table that it did not create (id, aggregatetype, aggregateid, type, payload, …). The user's table
-- itself is not altered: no column is added, nothing is rewritten or scanned.
--
-- Placeholders (src/names.ts, src/migrate.ts):
--   {{outbox}}               "schema"."table"          the user's outbox table (must exist)
--   {{id_col}}               "id"                      its event id column (OUTBOX_DEBEZIUM_EVENT_ID_FIELD)
--   {{id_col_literal}}       'id'                      the same, as a literal
--   {{captured}}             "schema"."table_captured" one line per row the relay is to publish
--   {{captured_pending_idx}} "table_captured_idx"
--   {{capture_fn}} {{capture_trg}}  AFTER INSERT trigger on the user's table: a row becomes pending
--   {{forget_fn}}  {{forget_trg}}   AFTER DELETE trigger on the user's table: a deleted row is forgotten
--   {{wakeup}} {{notify_fn}} {{notify_trg}} {{channel}} {{failures}}  as in the native migrations
--
-- Why a capture table and not new columns on the user's table: the relay needs an ordering number
-- (seq) and a pending flag. A bigint identity column (or any column with a volatile default) rewrites
-- the whole table under an ACCESS EXCLUSIVE lock, and a pending index on the user's table would have
-- to be built over its existing rows. The capture table is new and empty, so every statement here is
-- a catalog change under a short lock. The cost: one extra small INSERT per outbox row, in the
-- application's transaction (the trigger), like the identity column would have cost.
--
-- Rows already in the table when this migration runs are NOT captured: Debezium published them
-- (or will, from its slot) — as with its snapshot.mode=no_data. To publish them as well, after the
-- migration: INSERT INTO <table>_captured (id) SELECT id FROM <table> ORDER BY <your order>.
--
-- The event id column must be unique (Debezium's canonical table has it as the primary key): the
-- relay joins the capture table to the user's table on it.

DO $mig$
DECLARE
  id_type text;
BEGIN
  SELECT format_type(a.atttypid, a.atttypmod) INTO id_type
  FROM pg_attribute a
  WHERE a.attrelid = to_regclass('{{outbox}}') AND a.attname = {{id_col_literal}} AND NOT a.attisdropped AND a.attnum > 0;
  IF to_regclass('{{outbox}}') IS NULL THEN
    RAISE EXCEPTION 'outbox table {{outbox}} does not exist: --mapping debezium publishes an existing Debezium-style table (create it first)';
  END IF;
  IF id_type IS NULL THEN
    RAISE EXCEPTION 'outbox table {{outbox}} has no column %: set OUTBOX_DEBEZIUM_EVENT_ID_FIELD to its event id column', {{id_col_literal}};
  END IF;
  -- seq:        outbox order, handed out when the row is inserted (like the native table's identity)
  -- id:         the user's row (same type as its event id column)
  -- created_at: when the row was inserted (the Kafka timestamp with OUTBOX_TIMESTAMP=created_at)
  -- sent_at:    NULL while pending; set by --on-publish=mark
  EXECUTE format('CREATE TABLE {{captured}} (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         %s          NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz NULL
  )', id_type);
END
$mig$;

CREATE INDEX {{captured_pending_idx}} ON {{captured}} (seq) WHERE sent_at IS NULL;
-- The forget trigger looks rows up by id.
CREATE INDEX ON {{captured}} (id);

CREATE FUNCTION {{capture_fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
BEGIN
  INSERT INTO {{captured}} (id) VALUES (NEW.{{id_col}});
  RETURN NULL;
END
$fn$;
CREATE TRIGGER {{capture_trg}} AFTER INSERT ON {{outbox}}
  FOR EACH ROW EXECUTE FUNCTION {{capture_fn}}();

-- A row deleted before the relay published it (some Debezium users delete the row in the very
-- transaction that inserted it: the WAL still carries it for Debezium) is forgotten: a polling relay
-- cannot publish a row that no longer exists. Documented in docs/debezium.md and `run --help`.
CREATE FUNCTION {{forget_fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
BEGIN
  DELETE FROM {{captured}} WHERE id = OLD.{{id_col}};
  RETURN NULL;
END
$fn$;
CREATE TRIGGER {{forget_trg}} AFTER DELETE ON {{outbox}}
  FOR EACH ROW EXECUTE FUNCTION {{forget_fn}}();

-- Wake-up hint: as in the native migration 1.
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
-- On the user's table, per statement (its capture trigger has run by then: row triggers fire first).
CREATE TRIGGER {{notify_trg}} AFTER INSERT ON {{outbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{notify_fn}}();

-- Per-row failure state: as the native migration 2 (seq is the capture table's).
CREATE TABLE {{failures}} (
  seq             bigint      PRIMARY KEY,
  key             text        NULL,
  topic           text        NOT NULL,
  attempts        integer     NOT NULL,
  error_class     text        NOT NULL,
  last_error      text        NOT NULL,
  first_failed_at timestamptz NOT NULL DEFAULT now(),
  last_failed_at  timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NULL,
  dead_at         timestamptz NULL
);
CREATE INDEX ON {{failures}} (key, seq);
