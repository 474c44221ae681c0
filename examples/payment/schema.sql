-- The payment example's own tables ({{schema}} is filled in by run.mjs). The library's tables
-- (idempotency keys, processed events) and the relay's outbox are created by their own migrate().

-- Payment service: one row per charge made. Written in the same transaction as the idempotency key
-- and the outbox event.
CREATE TABLE {{schema}}.charges (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  customer   text        NOT NULL,
  amount     bigint      NOT NULL CHECK (amount > 0), -- minor units (cents)
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Ledger consumer: an immutable, double-entry journal. A balance is always derived from it
-- (the balances view), never kept as a number that is incremented.
CREATE TABLE {{schema}}.ledger_entries (
  entry_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id       text        NOT NULL, -- the event that caused it
  charge_id      uuid        NOT NULL,
  debit_account  text        NOT NULL,
  credit_account text        NOT NULL,
  amount         bigint      NOT NULL CHECK (amount > 0),
  booked_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION {{schema}}.ledger_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger entries are immutable: book a correcting entry instead';
END $$;
CREATE TRIGGER ledger_is_immutable BEFORE UPDATE OR DELETE ON {{schema}}.ledger_entries
  FOR EACH ROW EXECUTE FUNCTION {{schema}}.ledger_is_immutable();

CREATE VIEW {{schema}}.balances AS
  SELECT account, sum(amount)::bigint AS balance
    FROM (SELECT credit_account AS account, amount FROM {{schema}}.ledger_entries
          UNION ALL
          SELECT debit_account, -amount FROM {{schema}}.ledger_entries) AS legs
   GROUP BY account;
