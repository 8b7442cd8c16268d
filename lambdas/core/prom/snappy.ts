/**
 * Snappy block format (not the framing format), as remote read and remote write use it.
 */
import { DecodeError } from './decode-error';

interface SnappyJs {
  compress(input: Uint8Array): Uint8Array;
  uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
// snappyjs ships no types.
const portable = require('snappyjs') as SnappyJs;

interface NativeSnappy {
  compressSync(input: Buffer): Buffer;
}

/**
 * The native binding compresses about ten times faster than snappyjs, which made compression
 * the largest cost of a restore (bench: restore profile). It is an optional dependency with a
 * binary per platform; where it is absent (e.g. a Lambda bundle) snappyjs does the same job.
 */
function loadNative(): NativeSnappy | undefined {
  try {
    return require('snappy') as NativeSnappy;
  } catch {
    return undefined;
  }
}
const native = loadNative();

/** Snappy-compresses a block. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  if (native) return native.compressSync(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  return portable.compress(input);
}

/** Which implementation compresses, for diagnostics and benchmarks. */
export const SNAPPY_IMPLEMENTATION: 'native' | 'snappyjs' = native ? 'native' : 'snappyjs';

/**
 * Uncompresses a snappy block, refusing blocks that claim to expand beyond `maxBytes`.
 * Throws DecodeError on a damaged block.
 */
export function snappyUncompress(input: Uint8Array, maxBytes = 1 << 30): Uint8Array {
  const claimed = snappyUncompressedLength(input);
  if (claimed > maxBytes) {
    throw new DecodeError(`snappy block expands to ${claimed} bytes, more than the ${maxBytes} allowed`);
  }
  try {
    return portable.uncompress(input, maxBytes);
  } catch (err) {
    throw new DecodeError(`damaged snappy block (${input.length} bytes): ${(err as Error).message}`, { cause: err });
  }
}

/** The uncompressed length a snappy block declares in its header. */
export function snappyUncompressedLength(input: Uint8Array): number {
  let result = 0;
  for (let i = 0, shift = 0; i < input.length && i < 5; i++, shift += 7) {
    const b = input[i]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result;
  }
  throw new DecodeError(`damaged snappy block (${input.length} bytes): unreadable length header`);
}
