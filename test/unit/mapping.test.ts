import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileRoute, expandJsonPayload, javaDouble } from '../../src/mapping/debezium.js';
import { DEFAULT_MAPPING_SETTINGS, parseAdditionalPlacement, parseStaticHeaders, parseTopicTemplate, resolveMapping, type MappingSettings } from '../../src/mapping/definition.js';
import { rowMapper, type SourceRow } from '../../src/mapping/message.js';

const settings = (over: Partial<MappingSettings> = {}): MappingSettings => ({ ...DEFAULT_MAPPING_SETTINGS, ...over });
const source = (over: Partial<SourceRow> = {}): SourceRow => ({
  seq: '1',
  id: '00000000-0000-4000-8000-000000000001',
  topic: 'orders',
  key: 'k',
  payload: Buffer.from('{"a": 1}'),
  headers: {},
  partition: null,
  created_at: new Date('2026-01-02T03:04:05.678Z'),
  ce_type: null,
  ...over,
});

describe('native mapping', () => {
  it('keeps the defaults: row headers plus the id and seq headers, which win', () => {
    const map = rowMapper(resolveMapping(settings()));
    const row = map(source({ headers: { type: 'A', id: 'spoofed', seq: '999' } }));
    expect(row).toEqual({ seq: '1', id: source().id, topic: 'orders', key: 'k', payload: Buffer.from('{"a": 1}'), headers: { type: 'A', id: source().id, seq: '1' }, partition: null, timestamp: null });
  });

  it('static headers < row headers < CloudEvents headers < id', () => {
    const map = rowMapper(resolveMapping(settings({ staticHeaders: 'env=prod,ce_source=static', cloudEvents: 'binary', ceSource: '/svc', ceTypeColumn: 'type' })));
    const row = map(source({ headers: { env: 'row', ce_source: 'row', id: 'x' }, ce_type: 'com.example.created' }));
    expect(row.headers).toEqual({
      env: 'row',
      ce_source: '/svc',
      ce_specversion: '1.0',
      ce_id: source().id,
      ce_type: 'com.example.created',
      ce_time: '2026-01-02T03:04:05.678Z',
      'content-type': 'application/json',
      id: source().id,
      seq: '1',
    });
  });

  it('created_at as the timestamp only when asked; NULL payload stays null; a NULL topic becomes "" for validation to reject', () => {
    expect(rowMapper(resolveMapping(settings({ timestamp: 'created_at' })))(source()).timestamp).toBe(String(Date.parse('2026-01-02T03:04:05.678Z')));
    const row = rowMapper(resolveMapping(settings()))(source({ payload: null, topic: null }));
    expect([row.payload, row.topic, row.timestamp]).toEqual([null, '', null]);
  });

  it('parses templates, static headers and refuses what it cannot honour', () => {
    expect(parseTopicTemplate('events.{aggregate_type}')).toEqual([{ text: 'events.' }, { column: 'aggregate_type' }]);
    expect(parseTopicTemplate('{topic}')).toEqual([{ column: 'topic' }]);
    expect(() => parseTopicTemplate('events')).toThrow(/names no column/);
    expect(() => parseTopicTemplate('e.{Bad-Col}')).toThrow(/not a column name/);
    expect(parseStaticHeaders('a=1, b = x=y')).toEqual([['a', '1'], ['b', 'x=y']]);
    expect(parseStaticHeaders('{"a":"1"}')).toEqual([['a', '1']]);
    expect(() => parseStaticHeaders('{"a":1}')).toThrow(/JSON object of strings/);
    expect(() => resolveMapping(settings({ cloudEvents: 'binary' }))).toThrow(/needs OUTBOX_CE_SOURCE/);
    expect(() => resolveMapping(settings({ mapping: 'debezium', keyColumn: 'other' }))).toThrow(/OUTBOX_KEY_COLUMN applies to OUTBOX_MAPPING=native only/);
    expect(() => parseAdditionalPlacement('type:envelope')).toThrow(/envelope placement is not supported/);
    expect(parseAdditionalPlacement('type:header:eventType,p:partition')).toEqual([
      { column: 'type', placement: 'header', alias: 'eventType' },
      { column: 'p', placement: 'partition', alias: 'p' },
    ]);
  });
});

describe('debezium mapping (the Outbox Event Router 3.7.0 rules)', () => {
  const map = (over: Partial<MappingSettings> = {}) => rowMapper(resolveMapping(settings({ mapping: 'debezium', ...over })));
  // The debezium source relation gives headers as [[name, value], …].
  const dbz = (over: Partial<MappingSettings> = {}) => (row: SourceRow) => map(over)({ ...row, headers: Array.isArray(row.headers) ? row.headers : [] });

  it('routes by the default regex and replacement, key as is, id header first, then additional headers in order (a NULL column is a header with a null value)', () => {
    const row = map()(source({ topic: 'order', key: 'order-1', headers: [['eventType', 'OrderCreated'], ['n', null]] }));
    expect(row.topic).toBe('outbox.event.order');
    expect(row.key).toBe('order-1');
    expect(Object.entries(row.headers)).toEqual([
      ['id', source().id],
      ['eventType', 'OrderCreated'],
      ['n', null],
    ]);
    expect(row.payload).toEqual(Buffer.from('{"a": 1}'));
  });

  it('route.topic.replacement: ${name}, $n and escapes; a value the regex does not match is the topic itself', () => {
    expect(compileRoute('(?<routedByValue>.*)', '${routedByValue}')('Order')).toBe('Order');
    expect(compileRoute('(.*)-(.*)', 'x.$2.$1\\$')('a-b')).toBe('x.b.a$');
    expect(compileRoute('order', 'orders')('customer')).toBe('customer');
  });

  it('tombstones: NULL payload always, blank payload only with route.tombstone.on.empty.payload', () => {
    expect(dbz()(source({ payload: null })).payload).toBeNull();
    // With JsonConverter (expanded), a NULL payload is the JSON text null unless tombstones are asked for.
    expect(dbz({ debeziumExpandJsonPayload: true })(source({ payload: null })).payload).toEqual(Buffer.from('null'));
    expect(dbz({ debeziumExpandJsonPayload: true, debeziumTombstoneOnEmptyPayload: true })(source({ payload: null })).payload).toBeNull();
    expect(dbz()(source({ payload: Buffer.from(' ') })).payload).toEqual(Buffer.from(' '));
    expect(dbz({ debeziumTombstoneOnEmptyPayload: true })(source({ payload: Buffer.from(' ') })).payload).toBeNull();
  });

  it('table.expand.json.payload: compact, order kept, null fields dropped, numbers as Jackson writes them', () => {
    expect(expandJsonPayload('{"b": 1, "a": [1, 2], "n": null, "f": 1.0, "o": {"x": "é\\n"}}')).toBe('{"b":1,"a":[1,2],"f":1.0,"o":{"x":"é\\n"}}');
    expect(expandJsonPayload('not json')).toBe('"not json"');
    expect(expandJsonPayload('"text"')).toBe('"\\"text\\""');
    expect(expandJsonPayload('42')).toBe('"42"');
    // Jackson: surrogate pairs and control characters escaped in upper-case hex, other non-ASCII as is;
    // an empty array has no schema and is left out like null.
    expect(expandJsonPayload('{"s": "é😀\\u0001\\\\u00e9", "e": [], "n": [null]}')).toBe('{"s":"é\\uD83D\\uDE00\\u0001\\\\u00e9"}');
    expect([javaDouble(1), javaDouble(0.5), javaDouble(1e7), javaDouble(1.5e-5), javaDouble(123.25)]).toEqual(['1.0', '0.5', '1.0E7', '1.5E-5', '123.25']);
    expect(dbz({ debeziumExpandJsonPayload: true })(source({ payload: Buffer.from('{"total": 42.50}') })).payload!.toString()).toBe('{"total":42.5}');
  });
});

describe('the mapping does not depend on the Kafka client', () => {
  it('no module under src/mapping/ (or the relay loop) imports kafkajs; only src/publisher/ and the inbox adapter do', () => {
    const root = join(import.meta.dirname, '..', '..', 'src');
    const importers: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/from 'kafkajs'/.test(readFileSync(path, 'utf8'))) importers.push(path.slice(root.length + 1));
      }
    };
    walk(root);
    expect(importers.length).toBeGreaterThan(0);
    // The relay's client seam, and the chain library's inbox adapter (its own seam, src/chain/inbox/).
    expect(importers.filter((p) => !p.startsWith('publisher/') && p !== 'chain/inbox/kafkajs.ts')).toEqual([]);
    expect(importers.filter((p) => p.startsWith('mapping/'))).toEqual([]);
  });
});
