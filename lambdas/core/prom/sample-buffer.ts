/**
 * Growable columns of samples. Values are only ever written through their 32-bit words, so
 * every NaN payload (the staleness marker 0x7ff0000000000002 included) survives bit for bit.
 */

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  // Protobuf doubles are little-endian and values are copied as raw words.
  throw new Error('promvault needs a little-endian platform');
}

export class SampleBuffer {
  timestamps: Float64Array;
  values: Float64Array;
  /** The bits of `values`: word 2i is the low half of values[i], word 2i + 1 the high half. */
  valueWords: Uint32Array;
  /** The raw little-endian bytes of `values`. */
  valueBytes: Uint8Array;
  length = 0;

  constructor(capacity = 1024) {
    this.timestamps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.valueWords = new Uint32Array(this.values.buffer);
    this.valueBytes = new Uint8Array(this.values.buffer);
  }

  get capacity(): number {
    return this.timestamps.length;
  }

  /** Makes room for `extra` more samples. Re-read the arrays after calling this. */
  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.timestamps.length) return;
    let cap = Math.max(16, this.timestamps.length * 2);
    while (cap < need) cap *= 2;
    const ts = new Float64Array(cap);
    ts.set(this.timestamps.subarray(0, this.length));
    const vs = new Float64Array(cap);
    const words = new Uint32Array(vs.buffer);
    words.set(this.valueWords.subarray(0, this.length * 2));
    this.timestamps = ts;
    this.values = vs;
    this.valueWords = words;
    this.valueBytes = new Uint8Array(vs.buffer);
  }

  clear(): void {
    this.length = 0;
  }

  /** Appends one sample whose value is given as raw bits. */
  pushBits(t: number, hi: number, lo: number): void {
    if (this.length === this.timestamps.length) this.reserve(1);
    const i = this.length++;
    this.timestamps[i] = t;
    this.valueWords[2 * i] = lo;
    this.valueWords[2 * i + 1] = hi;
  }

  /** Appends samples [from, to) of the given columns, bit for bit. */
  append(timestamps: Float64Array, values: Float64Array, from = 0, to = timestamps.length): void {
    const n = to - from;
    if (n <= 0) return;
    this.reserve(n);
    this.timestamps.set(timestamps.subarray(from, to), this.length);
    this.valueWords.set(wordsOf(values).subarray(2 * from, 2 * to), 2 * this.length);
    this.length += n;
  }

  /** Exact-size copies of samples [from, to). */
  copyOut(from = 0, to = this.length): { timestamps: Float64Array; values: Float64Array } {
    const timestamps = this.timestamps.slice(from, to);
    const values = new Float64Array(to - from);
    new Uint32Array(values.buffer).set(this.valueWords.subarray(2 * from, 2 * to));
    return { timestamps, values };
  }
}

/** The 32-bit words of a Float64Array (a view, no copy). */
export function wordsOf(values: Float64Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
}

/** The raw bytes of a Float64Array (a view, no copy). */
export function bytesOf(values: Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
