/** Bit-level helpers for the prom tests: values are compared as raw 64-bit patterns. */
import { mulberry32 as prng } from '../../../fixtures/prng';

export const STALE_NAN = 0x7ff0000000000002n;

/** Float64Array holding exactly these bit patterns (written through a BigUint64Array view). */
export function f64(bits: readonly bigint[]): Float64Array {
  const out = new Float64Array(bits.length);
  const view = new BigUint64Array(out.buffer);
  bits.forEach((b, i) => (view[i] = b));
  return out;
}

export function bitsOf(values: Float64Array): bigint[] {
  return Array.from(new BigUint64Array(values.buffer, values.byteOffset, values.length));
}

export function hexBits(values: Float64Array): string[] {
  return bitsOf(values).map((b) => b.toString(16).padStart(16, '0'));
}

export { prng };

/** Random 64-bit patterns, biased towards the special ones. */
export function hostileBits(n: number, seed: number): bigint[] {
  const rnd = prng(seed);
  const specials = [
    STALE_NAN,
    0x7ff8000000000000n, // canonical quiet NaN
    0x7ff8000000000001n, // Go's math.NaN()
    0xfff8000000000000n, // negative quiet NaN
    0x7ff0000000000001n, // smallest signalling NaN
    0x7fffffffffffffffn, // largest NaN payload
    0xffffffffffffffffn,
    0x7ff0000000000000n, // +Inf
    0xfff0000000000000n, // -Inf
    0x0000000000000000n, // +0
    0x8000000000000000n, // -0
    0x0000000000000001n, // smallest denormal
    0x800fffffffffffffn, // largest negative denormal
    0x7fefffffffffffffn, // max double
    0x3ff0000000000000n, // 1
  ];
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.3) out.push(specials[Math.floor(rnd() * specials.length)]!);
    else if (r < 0.5 && out.length > 0)
      out.push(out[out.length - 1]!); // repeat: XOR '0' path
    else if (r < 0.7 && out.length > 0)
      out.push(out[out.length - 1]! ^ (BigInt(Math.floor(rnd() * 256)) << BigInt(Math.floor(rnd() * 56))));
    else out.push((BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32)));
  }
  return out;
}

export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
