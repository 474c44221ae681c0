/**
 * Where the relay reads rows from, per mapping: a relation (a sub-SELECT over the outbox) that
 * every mapping presents with the same columns, so the claim, backlog and `dead` queries stay one
 * query each whatever the mapping is:
 *
 *   seq        bigint       outbox order (the relay's own seq; in debezium mode the capture table's)
 *   id         text         the event id (header `id`)
 *   topic      text         native: the topic (column or template); debezium: the route-by field's value
 *   key        text         the message key (NULL = none): the key whose order the relay keeps
 *   payload    bytea        the value bytes (NULL = tombstone)
 *   headers    json/jsonb   native: the row's headers object; debezium: [[name, value], …] in order
 *   partition  integer      explicit partition, or NULL
 *   created_at timestamptz  when the row was written
 *   ce_type    text         CloudEvents type column, or NULL
 *   sent_at    timestamptz  NULL while pending
 *
 * PostgreSQL flattens the sub-SELECT: the claim still walks the pending index, and FOR UPDATE in the
 * claim locks the underlying rows (in debezium mode both the capture row and the user's row).
 */
import { quoteIdent, type OutboxNames } from '../names.js';
import type { Mapping } from './definition.js';

export const SOURCE_COLUMNS = ['seq', 'id', 'topic', 'key', 'payload', 'headers', 'partition', 'created_at', 'ce_type'] as const;

const col = (alias: string, name: string) => `${alias}.${quoteIdent(name)}`;

/** The relation to read rows from, to be followed by an alias (`FROM ${sourceRelation(n, m)} o`). */
export function sourceRelation(n: OutboxNames, m: Mapping): string {
  if (m.kind === 'native') {
    const topic = m.topic.map((p) => ('text' in p ? `'${p.text.replaceAll("'", "''")}'` : `${col('t', p.column)}::text`)).join(' || ');
    return `(SELECT t.seq, t.id::text AS id, ${topic} AS topic, ${col('t', m.keyColumn)}::text AS key, t.payload, t.headers,
      ${m.partitionColumn ? `${col('t', m.partitionColumn)}::integer` : 'NULL::integer'} AS partition, t.created_at,
      ${m.cloudEvents?.typeColumn ? `${col('t', m.cloudEvents.typeColumn)}::text` : 'NULL::text'} AS ce_type, t.sent_at
    FROM ${n.outbox} t)`;
  }
  const headers = m.additional
    .filter((a) => a.placement === 'header')
    .map((a) => `json_build_array('${a.alias.replaceAll("'", "''")}'::text, ${col('t', a.column)}::text)`);
  const partition = m.additional.find((a) => a.placement === 'partition');
  return `(SELECT c.seq, ${col('t', m.idField)}::text AS id, ${col('t', m.routeByField)}::text AS topic, ${col('t', m.keyField)}::text AS key,
      convert_to(${col('t', m.payloadField)}::text, 'UTF8') AS payload, json_build_array(${headers.join(', ')}) AS headers,
      ${partition ? `${col('t', partition.column)}::integer` : 'NULL::integer'} AS partition, c.created_at, NULL::text AS ce_type, c.sent_at
    FROM ${n.captured} c JOIN ${n.outbox} t ON ${col('t', m.idField)} = c.id)`;
}

/** The table that holds seq and sent_at: the outbox itself, or in debezium mode the capture table. */
export function trackingTable(n: OutboxNames, m: Mapping): string {
  return m.kind === 'native' ? n.outbox : n.captured;
}

/**
 * Delete acknowledged rows ($1: bigint[] of seq), in the claiming transaction. In debezium mode the
 * capture rows and the user's outbox rows go together: a published row is done, as it is for
 * Debezium users who delete outbox rows at once (`--on-publish=mark` leaves the user's rows alone).
 */
export function deleteSentSql(n: OutboxNames, m: Mapping): string {
  if (m.kind === 'native') return `DELETE FROM ${n.outbox} WHERE seq = ANY($1::bigint[])`;
  return `WITH done AS (DELETE FROM ${n.captured} WHERE seq = ANY($1::bigint[]) RETURNING id)
  DELETE FROM ${n.outbox} t USING done WHERE ${col('t', m.idField)} = done.id`;
}

/** Mark acknowledged rows sent ($1: bigint[] of seq), in the claiming transaction. */
export function markSentSql(n: OutboxNames, m: Mapping): string {
  return `UPDATE ${trackingTable(n, m)} SET sent_at = now() WHERE seq = ANY($1::bigint[])`;
}
