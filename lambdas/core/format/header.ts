/** The uncompressed 8-byte header of a shard object. See docs/FORMAT.md. */
import { corrupt } from './bytes';

export const MAGIC = Uint8Array.of(0x89, 0x50, 0x56, 0x53); // "\x89PVS"
export const HEADER_BYTES = 8;
/** Version of the object format this code writes and reads (the `.v<version>` of object keys). */
export const SHARD_FORMAT_VERSION = 1;

export const CODEC_IDS = { none: 0, brotli: 1, zlib: 2 } as const;
export type CodecName = keyof typeof CODEC_IDS;

export function encodeHeader(codec: CodecName): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(MAGIC, 0);
  h[4] = SHARD_FORMAT_VERSION;
  h[5] = CODEC_IDS[codec];
  return h;
}

export function decodeHeader(h: Uint8Array): CodecName {
  if (h.length < HEADER_BYTES || MAGIC.some((b, i) => h[i] !== b)) throw corrupt('not a promvault shard (bad magic)');
  if (h[4] !== SHARD_FORMAT_VERSION) throw corrupt(`format version ${h[4]} is not supported (this build reads 1)`);
  if (h[6] !== 0 || h[7] !== 0) throw corrupt('reserved header bytes are not zero');
  const id = h[5];
  const name = (Object.keys(CODEC_IDS) as CodecName[]).find((k) => CODEC_IDS[k] === id);
  if (name === undefined) throw corrupt(`unknown codec id ${id}`);
  return name;
}
