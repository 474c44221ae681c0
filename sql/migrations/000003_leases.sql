-- outbox-relay migration 3: several active replicas, each owning a share of the key partitions.
--
-- Placeholders (see migration 1 and src/names.ts):
--   {{members}}  "schema"."table_members"   the replicas that are alive, by their own heartbeat
--   {{leases}}   "schema"."table_leases"    one row per key partition: who owns it, until when
--
-- Every row belongs to one of 64 key partitions: hash(key) for keyed rows, hash(seq) for keyless rows
-- (src/sql/leases.ts partitionOfSql; the number is fixed here, since changing it would move keys).
-- A replica claims only rows of the partitions it holds a live lease on, so replicas share the work
-- without meeting on the same rows. Safety does not rest on the leases: rows are still claimed
-- FOR UPDATE and a key's later rows wait behind a locked one, so a replica that lost a lease while
-- its batch was in flight cannot be overtaken and cannot be doubled (docs/scale-out.md).
-- Every time here is the database's clock (now()); replicas' own clocks are never compared.
-- Nothing here touches the outbox table: safe on a busy one.
CREATE TABLE {{members}} (
  relay_id     text        PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);

CREATE TABLE {{leases}} (
  partition   smallint    PRIMARY KEY CHECK (partition >= 0 AND partition < 64),
  owner       text        NULL,
  -- Bumped at every change of owner: tells a takeover from a renewal, and orders the owners.
  epoch       bigint      NOT NULL DEFAULT 0,
  acquired_at timestamptz NULL,
  expires_at  timestamptz NULL
);
INSERT INTO {{leases}} (partition) SELECT generate_series(0, 63);
