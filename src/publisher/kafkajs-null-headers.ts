/**
 * kafkajs 2.2.4 cannot produce a record with a null header value, although Kafka allows one and its
 * own encoder writes it (length -1): the record encoder's size pre-computation calls
 * Buffer.byteLength(null) before its null check and throws (tulios/kafkajs#1789, fix proposed in
 * #1786, never released). Debezium's Outbox Event Router sends a NULL `col:header` column as such a
 * header, so the Debezium-compatible mapping needs it.
 *
 * This module swaps kafkajs's record encoder (src/protocol/recordBatch/record/v0) for the same
 * encoder with that one fix, in the module cache, before the first produce request loads it
 * (kafkajs requires its request encoders lazily). Imported for its effect by publisher/kafka.ts only.
 * The record layout is kafkajs's own, byte for byte (MIT, Copyright (c) 2018 Túlio Ornelas).
 */
import { createRequire } from 'node:module';
import { sep } from 'node:path';

interface EncoderInstance {
  writeVarInt(v: number): EncoderInstance;
  writeInt8(v: number): EncoderInstance;
  writeVarLong(v: number): EncoderInstance;
  writeVarIntBytes(v: unknown): EncoderInstance;
  writeVarIntArray(v: unknown[]): EncoderInstance;
}
interface EncoderClass {
  new (): EncoderInstance;
  sizeOfVarInt(v: number): number;
  sizeOfVarLong(v: number): number;
  sizeOfVarIntBytes(v: unknown): number;
}
type HeaderValue = Buffer | string | null;
interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key: unknown;
  value: unknown;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
}

const require = createRequire(import.meta.url);
const recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass;
const Header = require('kafkajs/src/protocol/recordBatch/header/v0/index.js') as (h: { key: string; value: HeaderValue }) => EncoderInstance;

function sizeOfHeaders(headers: { key: string; value: HeaderValue }[]): number {
  let size = Encoder.sizeOfVarInt(headers.length);
  for (const header of headers) {
    const keySize = Buffer.byteLength(header.key);
    size += Encoder.sizeOfVarInt(keySize) + keySize;
    if (header.value === null || header.value === undefined) {
      size += Encoder.sizeOfVarInt(-1);
    } else {
      const valueSize = Buffer.byteLength(header.value);
      size += Encoder.sizeOfVarInt(valueSize) + valueSize;
    }
  }
  return size;
}

export function encodeRecord({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput): EncoderInstance {
  const list = Object.keys(headers).flatMap((name) => {
    const v = headers[name]!;
    return Array.isArray(v) ? v.map((value) => ({ key: name, value })) : [{ key: name, value: v }];
  });
  const sizeOfBody =
    1 + // attributes
    Encoder.sizeOfVarLong(timestampDelta) +
    Encoder.sizeOfVarInt(offsetDelta) +
    Encoder.sizeOfVarIntBytes(key) +
    Encoder.sizeOfVarIntBytes(value) +
    sizeOfHeaders(list);
  return new Encoder()
    .writeVarInt(sizeOfBody)
    .writeInt8(0)
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(list.map(Header));
}

// The produce requests (v3, and v4–v7 built on it) capture the encoder when first loaded; kafkajs
// requires the request module anew for every request, so dropping them from the cache makes the next
// request take the fixed encoder even if a produce already happened in this process.
require(recordPath);
require.cache[recordPath]!.exports = encodeRecord;
const produceDir = recordPath.replace(/recordBatch[\\/]record[\\/]v0[\\/]index\.js$/, `requests${sep}produce${sep}`);
for (const loaded of Object.keys(require.cache)) if (loaded.startsWith(produceDir)) delete require.cache[loaded];
