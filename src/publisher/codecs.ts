/**
 * Produce-request compression (KAFKA_COMPRESSION). kafkajs compresses gzip itself; lz4, zstd and
 * snappy need a codec registered in its CompressionCodecs table. The codecs come from registry
 * packages that install without downloads from elsewhere (docs/compression.md has the choice and the
 * measurements):
 * - lz4: lz4js's block compressor (pure JavaScript) in an LZ4 frame written here: independent 64 KiB
 *   blocks, as Kafka requires (lz4js's own frames chain their blocks, and the broker refuses them:
 *   "Dependent block stream is unsupported"), header checksum per KIP-57;
 * - snappy: snappyjs (pure JavaScript), in the xerial framing Kafka's Java producer writes (raw
 *   snappy blocks are read too);
 * - zstd: @mongodb-js/zstd (the zstd library through N-API; its prebuilt binary is a registry
 *   package per platform), loaded only when zstd is chosen.
 */
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';
import xxh32 from 'lz4js/xxh32.js';
import snappy from 'snappyjs';
import type { Compression } from '../config.js';

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const LZ4_MAGIC = 0x184d2204;
/** FLG: version 01, independent blocks, no checksums; BD: 64 KiB blocks (what Kafka's Java producer writes). */
const LZ4_FLG = 0x60;
const LZ4_BD = 0x40;
const LZ4_BLOCK = 64 * 1024;

/** An LZ4 frame of independent blocks (each compressed with a fresh hash table). */
export function lz4Frame(input: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = LZ4_FLG;
  header[5] = LZ4_BD;
  header[6] = (xxh32.hash(0, header, 4, 2) >>> 8) & 0xff;
  const parts: Buffer[] = [header];
  const out = Buffer.alloc(LZ4_BLOCK + Math.ceil(LZ4_BLOCK / 255) + 16);
  for (let at = 0; at < input.length; at += LZ4_BLOCK) {
    const block = input.subarray(at, at + LZ4_BLOCK);
    const size = lz4.compressBlock(block, out, 0, block.length, new Uint32Array(1 << 16));
    const length = Buffer.alloc(4);
    if (size === 0 || size >= block.length) {
      length.writeUInt32LE((0x80000000 | block.length) >>> 0);
      parts.push(length, Buffer.from(block));
    } else {
      length.writeUInt32LE(size);
      parts.push(length, Buffer.from(out.subarray(0, size)));
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts);
}

export const lz4Codec: Codec = {
  compress: async (encoder) => lz4Frame(encoder.buffer),
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
