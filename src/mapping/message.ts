/**
 * One row, as ./source.ts presents it, to the message the relay publishes (an OutboxRow: topic, key,
 * value, headers, partition, timestamp). Pure; the claim's rows go through here before validation.
 *
 * Headers, lowest precedence first:
 *   native:   static headers < the row's headers < CloudEvents headers < `id` (the event id) and
 *             `seq` (the row's position in the outbox, so consumers can see gaps and repeats per key)
 *   debezium: `id`, then the additional header fields in the order they are configured (no `seq`:
 *             the mode publishes exactly what Debezium's router would)
 * The `id` header always carries the event id, so consumers can deduplicate on it in every mapping.
 */
import type { OutboxRow } from '../sql/claimBatch.js';
import { compileRoute, expandJsonPayload } from './debezium.js';
import type { Mapping } from './definition.js';

/** A row as the mapping's source relation returns it (see SOURCE_COLUMNS). */
export interface SourceRow {
  seq: string;
  id: string;
  topic: string | null;
  key: string | null;
  payload: Buffer | null;
  /** native: the row's jsonb object; debezium: [[name, value], …]. */
  headers: unknown;
  partition: number | null;
  created_at: Date | null;
  ce_type: string | null;
}

export type RowMapper = (row: SourceRow) => OutboxRow;

export function rowMapper(m: Mapping): RowMapper {
  if (m.kind === 'debezium') {
    const route = compileRoute(m.routeTopicRegex, m.routeTopicReplacement);
    return (row) => {
      const { topic, payload, headers, created_at } = row;
      let value = payload;
      if (value !== null) {
        const text = value.toString('utf8');
        if (m.tombstoneOnEmptyPayload && text.trim() === '') value = null;
        else if (m.expandJsonPayload) value = Buffer.from(expandJsonPayload(text), 'utf8');
      } else if (m.expandJsonPayload && !m.tombstoneOnEmptyPayload) {
        // JsonConverter writes a null value that has a schema as the JSON text null, not as a
        // tombstone: only route.tombstone.on.empty.payload drops the schema (found by test:compat).
        value = Buffer.from('null');
      }
      const out: Record<string, string | null> = { id: row.id };
      // A NULL column: the router sends a header with a null value, and so does the relay.
      for (const [name, v] of headers as [string, string | null][]) out[name] = v;
      return {
        seq: row.seq,
        id: row.id,
        key: row.key,
        partition: row.partition,
        topic: topic === null ? '' : route(topic),
        payload: value,
        headers: out,
        timestamp: m.timestamp === 'created_at' && created_at ? String(created_at.getTime()) : null,
      };
    };
  }
  const statics = Object.fromEntries(m.staticHeaders);
  const hasStatics = m.staticHeaders.length > 0;
  const ce = m.cloudEvents;
  return (row) => {
    const { topic, headers, created_at, ce_type } = row;
    const rowHeaders = headers as Record<string, string>;
    let out: Record<string, string>;
    if (rowHeaders === null || typeof rowHeaders !== 'object' || Array.isArray(rowHeaders)) {
      // Not an object: left as is for validation to reject (relay/validate.ts).
      out = rowHeaders;
    } else {
      // The row's headers object is the claim's own (freshly parsed from jsonb): filled in place
      // rather than copied, one allocation less per row. Static headers come first, as before.
      out = hasStatics ? { ...statics, ...rowHeaders } : rowHeaders;
      if (ce) {
        out.ce_specversion = '1.0';
        out.ce_id = row.id;
        out.ce_source = ce.source;
        out.ce_type = (ce.typeColumn ? ce_type : null) ?? topic ?? '';
        if (created_at) out.ce_time = created_at.toISOString();
        out['content-type'] = ce.contentType;
      }
      out.id = row.id;
      out.seq = row.seq;
    }
    return {
      seq: row.seq,
      id: row.id,
      key: row.key,
      payload: row.payload,
      partition: row.partition,
      topic: topic ?? '',
      headers: out,
      timestamp: m.timestamp === 'created_at' && created_at ? String(created_at.getTime()) : null,
    };
  };
}

/**
 * The topic a source row's `topic` column stands for, for the backlog metrics' labels: in debezium
 * mode it holds the route-by value, which the router's regex turns into the topic.
 */
export function topicLabel(m: Mapping): (topic: string | null) => string {
  if (m.kind === 'native') return (topic) => topic ?? '';
  const route = compileRoute(m.routeTopicRegex, m.routeTopicReplacement);
  return (topic) => (topic === null ? '' : route(topic));
}
