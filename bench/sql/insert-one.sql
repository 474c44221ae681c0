-- One single-row application transaction writing an outbox row (M6 producer-side tax).
-- The table is resolved through search_path: run with PGOPTIONS='-c search_path=<schema>'.
\set id random(1, 1000)
BEGIN;
INSERT INTO outbox (topic, key, payload) VALUES ('t', 'k' || :id, convert_to(repeat('x', 200), 'UTF8'));
COMMIT;
