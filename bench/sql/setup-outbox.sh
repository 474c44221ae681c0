#!/usr/bin/env bash
# Render sql/migrations/000001_outbox.sql into schema $1 and shape it for one wake-up variant.
#   bench/sql/setup-outbox.sh <schema> <mode>
#   mode: notrigger | ours | ours-waiting | naive | ours-plain
#     notrigger     migration, then DROP TRIGGER (no NOTIFY ever)                      -- variant 1
#     ours          migration as shipped, wakeup table empty (relay busy)               -- variants 2 and 5
#     ours-waiting  migration as shipped + a relay declared waiting for 1 hour          -- variant 3
#     naive         trigger function replaced by an unconditional pg_notify per statement -- variant 4
#     ours-plain    our function without SECURITY DEFINER / SET search_path (diagnostic)  -- variant 8
# Connection: PG* environment (defaults below: 127.0.0.1:5432, user postgres, db postgres).
set -euo pipefail
schema=$1 mode=$2
here=$(cd "$(dirname "$0")" && pwd)
mig=$here/../../sql/migrations/000001_outbox.sql
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-postgres}
tmp=$(mktemp /tmp/outbox-mig.XXXXXX.sql)
trap 'rm -f "$tmp"' EXIT
{
  echo "DROP SCHEMA IF EXISTS \"$schema\" CASCADE;"
  echo "CREATE SCHEMA \"$schema\";"
  sed -e "s/{{outbox}}/\"$schema\".\"outbox\"/g" \
      -e "s/{{pending_idx}}/\"outbox_pending_idx\"/g" \
      -e "s/{{wakeup}}/\"$schema\".\"outbox_wakeup\"/g" \
      -e "s/{{notify_fn}}/\"$schema\".\"outbox_notify\"/g" \
      -e "s/{{notify_trg}}/\"outbox_notify\"/g" \
      -e "s/{{channel}}/'$schema.outbox'/g" "$mig"
  case $mode in
    notrigger) echo "DROP TRIGGER outbox_notify ON \"$schema\".\"outbox\";" ;;
    ours) ;;
    ours-waiting) echo "INSERT INTO \"$schema\".\"outbox_wakeup\" VALUES ('bench-idle-relay', now() + interval '1 hour');" ;;
    naive) cat <<SQL
CREATE OR REPLACE FUNCTION "$schema"."outbox_notify"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$fn\$
BEGIN
  PERFORM pg_notify('$schema.outbox', '');
  RETURN NULL;
END
\$fn\$;
SQL
    ;;
    ours-plain) cat <<SQL
CREATE OR REPLACE FUNCTION "$schema"."outbox_notify"() RETURNS trigger
LANGUAGE plpgsql AS \$fn\$
BEGIN
  IF EXISTS (SELECT 1 FROM "$schema"."outbox_wakeup" WHERE waiting_until > now()) THEN
    PERFORM pg_notify('$schema.outbox', '');
  END IF;
  RETURN NULL;
END
\$fn\$;
SQL
    ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
} > "$tmp"
psql -X -q -v ON_ERROR_STOP=1 -f "$tmp"
