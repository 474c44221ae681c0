import { randomBytes } from 'node:crypto';
import lz4 from 'lz4js';
import { describe, expect, it } from 'vitest';
import { compressionType, lz4Codec, lz4Frame, snappyCodec } from '../../src/publisher/codecs.js';

/** Compressible but not trivial: JSON-like text with random parts, over several 64 KiB / 32 KiB blocks. */
const input = Buffer.from(Array.from({ length: 3000 }, (_, i) => `{"n":${i},"id":"${randomBytes(6).toString('hex')}","status":"paid"}`).join('\n'));

describe('compression codecs', () => {
  it('lz4: a frame of independent 64 KiB blocks (FLG 0x60, BD 0x40) that any LZ4 frame reader decodes', async () => {
    const frame = lz4Frame(input);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect([frame[4], frame[5]]).toEqual([0x60, 0x40]);
    expect(frame.length).toBeLessThan(input.length);
    expect(Buffer.from(lz4.decompress(frame)).equals(input)).toBe(true);
    expect((await lz4Codec.decompress(await lz4Codec.compress({ buffer: input }))).equals(input)).toBe(true);
    const incompressible = randomBytes(70_000);
    expect(Buffer.from(lz4.decompress(lz4Frame(incompressible))).equals(incompressible)).toBe(true);
  });

  it('snappy: xerial framing with 32 KiB blocks, and raw snappy read too', async () => {
    const framed = await snappyCodec.compress({ buffer: input });
    expect(framed.subarray(0, 8).toString('latin1')).toBe('\x82SNAPPY\x00');
    expect(framed.length).toBeLessThan(input.length);
    expect((await snappyCodec.decompress(framed)).equals(input)).toBe(true);
    const snappyjs = (await import('snappyjs')).default;
    expect((await snappyCodec.decompress(snappyjs.compress(input))).equals(input)).toBe(true);
  });

  it('maps the setting to kafkajs compression types', () => {
    expect(compressionType('none')).toBeUndefined();
    expect(compressionType('gzip')).toBe(1);
    expect(compressionType('snappy')).toBe(2);
    expect(compressionType('lz4')).toBe(3);
    expect(compressionType('zstd')).toBe(4);
  });
});
