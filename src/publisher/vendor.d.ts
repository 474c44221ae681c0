// Type declarations for the codec packages that ship none.
declare module 'lz4js' {
  const lz4: { compress(src: Uint8Array): Uint8Array; decompress(src: Uint8Array): Uint8Array };
  export default lz4;
}
declare module 'snappyjs' {
  const snappy: { compress(src: Buffer): Buffer; uncompress(src: Buffer): Buffer };
  export default snappy;
}
