/**
 * Reading a whole response body with a cap, so no answer (a misdirected URL, a huge SAMPLES
 * read) can take more memory than the caller allows. Every adapter that keeps a body whole
 * reads it here.
 */
import { ResponseTooLargeError } from '../core/errors';

/** Defaults: a remote-read SAMPLES answer holds a whole shard; other answers are short. */
export const RESPONSE_CAPS = {
  /** A remote-read SAMPLES answer, compressed and uncompressed (--max-response-bytes). */
  samplesBytes: 1 << 30,
  /** Prometheus' own /metrics page, read for its oldest retained timestamp. */
  metricsBytes: 64 << 20,
  /** A remote-write answer: a status line or a short error. */
  writeAnswerBytes: 64 << 10,
} as const;

/**
 * The body's bytes, at most `capBytes` of them; more is a ResponseTooLargeError whose message is
 * `tooLarge(capBytes)` (say the endpoint, the shard and the setting there). Reading stops at the
 * cap: the rest is never buffered.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null | undefined,
  capBytes: number,
  tooLarge: (capBytes: number) => string,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  // Node's web streams are async iterable; leaving the loop early cancels the stream.
  const chunks = body as AsyncIterable<Uint8Array>;
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of chunks) {
    size += c.byteLength;
    if (size > capBytes) throw new ResponseTooLargeError(tooLarge(capBytes), capBytes);
    parts.push(c);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** A size for messages: 1 GiB, 64 MiB, 1000 bytes. */
export function describeBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1 << 30],
    ['MiB', 1 << 20],
    ['KiB', 1 << 10],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}
