/**
 * Produce-request compression (KAFKA_COMPRESSION). kafkajs compresses gzip itself; lz4, zstd and
 * snappy need a codec registered in its CompressionCodecs table. The codecs come from registry
 * packages that install without downloads from elsewhere (docs/compression.md has the choice and the
 * measurements):
 * - lz4: lz4js (pure JavaScript; LZ4 frame format, as Kafka expects since KIP-57);
 * - snappy: snappyjs (pure JavaScript), in the xerial framing Kafka's Java producer writes (raw
 *   snappy blocks are read too);
 * - zstd: @mongodb-js/zstd (the zstd library through N-API; its prebuilt binary is a registry
 *   package per platform), loaded only when zstd is chosen.
 */
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';
import snappy from 'snappyjs';
import type { Compression } from '../config.js';

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

export const lz4Codec: Codec = {
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
};

/** xerial snappy-java's stream header: magic, version 1, compatible version 1. */
const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
/** Kafka's SnappyOutputStream block size. */
const SNAPPY_BLOCK = 32 * 1024;

export const snappyCodec: Codec = {
  async compress(encoder) {
    const input = encoder.buffer;
    const parts: Buffer[] = [XERIAL_HEADER];
    for (let at = 0; at < input.length || at === 0; at += SNAPPY_BLOCK) {
      const block = snappy.compress(input.subarray(at, at + SNAPPY_BLOCK));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(block.length);
      parts.push(length, block);
      if (input.length === 0) break;
    }
    return Buffer.concat(parts);
  },
  async decompress(buffer) {
    if (buffer.length < XERIAL_HEADER.length || !buffer.subarray(0, 8).equals(XERIAL_HEADER.subarray(0, 8))) return snappy.uncompress(buffer);
    const parts: Buffer[] = [];
    for (let at = XERIAL_HEADER.length; at < buffer.length; ) {
      const length = buffer.readUInt32BE(at);
      parts.push(snappy.uncompress(buffer.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
    }
    return Buffer.concat(parts);
  },
};

// kafkajs is CommonJS and Node cannot see these two as named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;
type CompressionTypes = kafkajs.CompressionTypes;

async function zstdCodec(): Promise<Codec> {
  const zstd = await import('@mongodb-js/zstd');
  return {
    compress: (encoder) => zstd.compress(encoder.buffer, 3),
    decompress: (buffer) => zstd.decompress(buffer),
  };
}

const TYPES = {
  none: undefined,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
  snappy: CompressionTypes.Snappy,
} as const;

/** The kafkajs compression type for a setting (undefined = none). Call registerCodec first. */
export function compressionType(compression: Compression): CompressionTypes | undefined {
  return TYPES[compression];
}

/** Register the codec kafkajs needs for this compression (idempotent; gzip and none need none). */
export async function registerCodec(compression: Compression): Promise<void> {
  const codecs = CompressionCodecs as Record<number, () => Codec>;
  if (compression === 'lz4') codecs[CompressionTypes.LZ4] = () => lz4Codec;
  if (compression === 'snappy') codecs[CompressionTypes.Snappy] = () => snappyCodec;
  if (compression === 'zstd') {
    const codec = await zstdCodec();
    codecs[CompressionTypes.ZSTD] = () => codec;
  }
}
