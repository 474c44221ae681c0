/**
 * The chain library's pure parts: event validation and encoding (producer), request fingerprints
 * (idempotency), and the boundary: the relay never imports the library.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprintOf } from '../../src/chain/idempotency/index.js';
import { OutboxUsageError, outboxProducer, toRow } from '../../src/chain/producer/index.js';

describe('producer: toRow', () => {
  it('encodes JSON payloads as UTF-8 JSON text and bytes as they are', () => {
    expect(toRow({ topic: 'orders', key: 'k', payload: { a: 'ü' } }).payload.toString('utf8')).toBe('{"a":"ü"}');
    expect(toRow({ topic: 'orders', payload: 'text' }).payload.toString('utf8')).toBe('"text"');
    const bytes = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
    expect([...toRow({ topic: 'orders', payload: bytes }).payload]).toEqual([2, 3]);
    expect(toRow({ topic: 'orders', payload: null })).toMatchObject({ key: null, id: null, headers: {} });
  });

  it.each([
    [{ topic: 'bad topic!', payload: 1 }, /not a legal Kafka topic/],
    [{ topic: '', payload: 1 }, /not a legal Kafka topic/],
    [{ topic: '..', payload: 1 }, /not a legal Kafka topic/],
    [{ topic: 'x'.repeat(250), payload: 1 }, /not a legal Kafka topic/],
    [{ topic: 't', payload: undefined }, /not JSON-serialisable/],
    [{ topic: 't', payload: 10n }, /not JSON-serialisable/],
    [{ topic: 't', payload: 1, headers: { n: 1 } }, /header "n" must be a string/],
    [{ topic: 't', payload: 1, headers: { id: 'x' } }, /"id" is reserved/],
    [{ topic: 't', payload: 1, headers: { seq: '7' } }, /"seq" is reserved/],
    [{ topic: 't', payload: 1, id: 'not-a-uuid' }, /is not a UUID/],
    [{ topic: 't', payload: 1, key: 5 }, /key must be a string/],
  ])('refuses bad event %#', (event, message) => {
    expect(() => toRow(event as never)).toThrow(OutboxUsageError);
    expect(() => toRow(event as never)).toThrow(message);
  });

  it('validates every event before it touches the client', async () => {
    const calls: string[] = [];
    const client = { query: async (text: string) => (calls.push(text), { rows: [], rowCount: 0 }) };
    await expect(outboxProducer().enqueueMany(client, [{ topic: 'ok', payload: 1 }, { topic: 'bad topic', payload: 1 }])).rejects.toThrow(/event 1/);
    expect(calls).toEqual([]);
    expect(() => outboxProducer({ schema: 's', mapping: { name: 'x', insert: async () => [] } })).toThrow(/either mapping or schema/);
  });
});

describe('idempotency: fingerprints', () => {
  it('equal for the same request whatever the key order, different for another body, method or path', () => {
    const a = fingerprintOf('POST', '/payments', { amount: 5, customer: { id: 1, name: 'x' } });
    expect(fingerprintOf('POST', '/payments', { customer: { name: 'x', id: 1 }, amount: 5 })).toBe(a);
    expect(fingerprintOf('POST', '/payments', { amount: 6, customer: { id: 1, name: 'x' } })).not.toBe(a);
    expect(fingerprintOf('PUT', '/payments', { amount: 5, customer: { id: 1, name: 'x' } })).not.toBe(a);
    expect(fingerprintOf('POST', '/refunds', { amount: 5, customer: { id: 1, name: 'x' } })).not.toBe(a);
    expect(canonicalJson([[2, 1], { b: null, a: [{ d: 1, c: 2 }] }])).toBe('[[2,1],{"a":[{"c":2,"d":1}],"b":null}]');
  });
});

describe('boundary', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  /** Every src/ file reachable through relative imports from the given entry files. */
  function reachable(entries: string[]): Set<string> {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        visit(join(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
      }
    };
    entries.forEach((e) => visit(join(root, e)));
    return seen;
  }

  it('the relay (cli, index, relay, publisher) imports nothing from src/chain', () => {
    const files = [...reachable(['src/cli.ts', 'src/index.ts', 'src/main.ts'])].map((f) => f.slice(root.length + 1));
    expect(files).toContain('src/relay/relay.ts'); // the walk follows imports
    expect(files.filter((f) => f.startsWith('src/chain/'))).toEqual([]);
  });

  it('the chain library imports only names.ts from the relay', () => {
    const files = [...reachable(['src/chain/producer/index.ts', 'src/chain/inbox/kafkajs.ts', 'src/chain/idempotency/express.ts'])].map((f) => f.slice(root.length + 1));
    expect(files.filter((f) => !f.startsWith('src/chain/'))).toEqual(['src/names.ts']);
  });
});
