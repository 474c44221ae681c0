-- outbox-relay migration 2: per-row failure state, and strict headers.
--
-- Placeholders (see migration 1 and src/names.ts):
--   {{outbox}}        "schema"."table"
--   {{failures}}      "schema"."table_failures"
--   {{headers_check}} "table_headers_strict"    constraint name (unqualified)
--
-- Safe on a large, busy outbox: nothing here rewrites or scans the outbox table.
-- * The failure state lives in a table of its own, not in new outbox columns: only rows that failed
--   have a line there (normally none), the hot path's DELETE/UPDATE of sent rows is unchanged, and
--   the claim's check against it is an anti-join with an empty or tiny table.
-- * The strict headers CHECK is added NOT VALID: a catalog change under a short lock (src/migrate.ts
--   sets lock_timeout for it and retries, so it never queues the application's writers behind a long
--   transaction), enforced for every new or updated row from then on, and never scanned over the
--   existing rows. Rows written before it are validated by the relay, which parks a bad one as dead.

-- One line per outbox row that failed to publish. It disappears when the row is published, retried
-- by an operator (`outbox-relay dead retry`) or discarded (`outbox-relay dead discard`).
--   attempts:        publish attempts that failed for this row
--   error_class:     what kind of failure (invalid-headers, invalid-topic, too-large, unknown-topic,
--                    refused, not-authorized, failed), for alerts and `dead list --json`
--   last_error:      the last error, one line
--   next_attempt_at: the row waits until then (NULL once dead)
--   dead_at:         the row will not be retried by itself; set when it can never succeed or its
--                    attempts ran out
--   key:             the row's key, copied so blocked keys are found without reading the outbox
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

-- Headers must be a JSON object of strings. Migration 1's CHECK used jsonpath's lax mode, which
-- unwraps arrays: '{"h":["x"]}' passed it. Strict mode does not.
ALTER TABLE {{outbox}} ADD CONSTRAINT {{headers_check}}
  CHECK (jsonb_typeof(headers) = 'object' AND NOT jsonb_path_exists(headers, 'strict $.* ? (@.type() != "string")'))
  NOT VALID;
