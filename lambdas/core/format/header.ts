/** The uncompressed 8-byte header of a shard object. See docs/FORMAT.md. */
import { corrupt } from './bytes';

export const MAGIC = Uint8Array.of(0x89, 0x50, 0x56, 0x53); // "\x89PVS"
export const HEADER_BYTES = 8;
/**
 * The newest object format this code writes and reads: version 2 adds metadata records to
 * version 1. A shard without metadata is still written as version 1, byte for byte as before,
 * so that older readers keep reading it. Object keys keep `.v1` (see shard.ts FORMAT_VERSION):
 * the key layout did not change.
 */
export const SHARD_FORMAT_VERSION = 2;
/** The first version with metadata records. */
export const METADATA_FORMAT_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];

export const CODEC_IDS = { none: 0, brotli: 1, zlib: 2 } as const;
export type CodecName = keyof typeof CODEC_IDS;

export interface Header {
  readonly codec: CodecName;
  readonly version: number;
}

export function encodeHeader(codec: CodecName, version = 1): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(MAGIC, 0);
  h[4] = version;
  h[5] = CODEC_IDS[codec];
  return h;
}

export function decodeHeader(h: Uint8Array): Header {
  if (h.length < HEADER_BYTES || MAGIC.some((b, i) => h[i] !== b)) throw corrupt('not a promvault shard (bad magic)');
  const version = h[4] as number;
  if (!READABLE_VERSIONS.includes(version)) {
    throw corrupt(
      `format version ${version} is not supported (this build reads ${READABLE_VERSIONS.join(' and ')}): upgrade promvault`,
    );
  }
  if (h[6] !== 0 || h[7] !== 0) throw corrupt('reserved header bytes are not zero');
  const id = h[5];
  const name = (Object.keys(CODEC_IDS) as CodecName[]).find((k) => CODEC_IDS[k] === id);
  if (name === undefined) throw corrupt(`unknown codec id ${id}`);
  return { codec: name, version };
}
