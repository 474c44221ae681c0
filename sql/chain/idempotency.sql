-- outbox-relay chain: request idempotency keys (outbox-relay/idempotency, migrate()).
-- Placeholders, filled in by src/chain/sql.ts with quoted identifiers:
--   {{table}}        "schema"."table"
--   {{schema}}       "schema"
--   {{expires_idx}}  "table_expires_idx"   (unqualified)
--
-- One line per (scope, key). It is inserted in the same transaction as the request's business change
-- and gets the response in that transaction too, so a committed line always holds a response: a
-- crash before the commit leaves no line, never one that claims success. A concurrent duplicate's
-- INSERT waits on the primary key for the first transaction (bounded by lock_timeout).
CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{table}} (
  scope       text        NOT NULL DEFAULT '',
  key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint text        NOT NULL,
  status      integer     NULL,      -- the response; set before the commit (never NULL once committed)
  headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  body        json        NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS {{expires_idx}} ON {{table}} (expires_at);
