// Type declarations for the codec packages that ship none.
declare module 'lz4js' {
  const lz4: {
    compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
    decompress(src: Uint8Array): Uint8Array;
  };
  export default lz4;
}
declare module 'snappyjs' {
  const snappy: { compress(src: Buffer): Buffer; uncompress(src: Buffer): Buffer };
  export default snappy;
}
declare module 'lz4js/xxh32.js' {
  const xxh32: { hash(seed: number, src: Uint8Array, index: number, length: number): number };
  export default xxh32;
}
