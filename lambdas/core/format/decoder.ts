/**
 * Streaming shard decoder: object bytes in, SeriesPieces out, one block in memory at a time.
 */
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { CorruptShardError } from '../errors';
import type { MetricMetadata, SeriesPiece } from '../types';
import { BlockReader } from './block-decode';
import { LIMITS, RECORD_BLOCK, RECORD_END, RECORD_METADATA } from './block-format';
import { corrupt } from './bytes';
import { crc32 } from './crc32';
import { HEADER_BYTES, METADATA_FORMAT_VERSION, decodeHeader } from './header';
import { decodeMetadataBody } from './metadata-decode';

const EMPTY = new Uint8Array(0);

export interface DecodeOptions {
  /**
   * Called with the metadata of the metric families whose first series is in the next block,
   * before that block's pieces are yielded (objects of format version 2).
   */
  readonly onMetadata?: (entries: readonly MetricMetadata[]) => void;
}

/** Pulls exact byte counts out of a stream of chunks. */
class ChunkReader {
  private cur: Uint8Array = EMPTY;
  private off = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    while (this.off >= this.cur.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.cur = r.value;
      this.off = 0;
    }
    return true;
  }

  async eof(): Promise<boolean> {
    return !(await this.fill());
  }

  async byte(what: string): Promise<number> {
    if (!(await this.fill())) throw corrupt(`stream ends inside ${what} (truncated)`);
    return this.cur[this.off++] as number;
  }

  async uvarint(what: string): Promise<number> {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = await this.byte(what);
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) break;
        return v;
      }
      mul *= 0x80;
    }
    throw corrupt(`bad varint in ${what}`);
  }

  async exact(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let k = 0;
    while (k < n) {
      if (!(await this.fill())) throw corrupt(`stream ends inside ${what} (truncated)`);
      const m = Math.min(n - k, this.cur.length - this.off);
      out.set(this.cur.subarray(this.off, this.off + m), k);
      this.off += m;
      k += m;
    }
    return out;
  }

  /** The bytes read past `n` from the first chunks (for the header) and the rest as a stream. */
  rest(): AsyncIterable<Uint8Array> {
    const it = this.it;
    const first = this.cur.subarray(this.off);
    this.cur = EMPTY;
    this.off = 0;
    return {
      [Symbol.asyncIterator]: () => {
        let sentFirst = first.length === 0;
        return {
          next: async (): Promise<IteratorResult<Uint8Array>> => {
            if (!sentFirst) {
              sentFirst = true;
              return { done: false, value: first };
            }
            return it.next();
          },
          return: async (): Promise<IteratorResult<Uint8Array>> => {
            await it.return?.();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }
}

function isZlibError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ERR__'))
  );
}

/**
 * Decodes a shard object, yielding its series in the order they were encoded. A series may come
 * as several consecutive pieces with the same labels (one per block it spans). Fails with
 * CorruptShardError when the bytes are truncated, corrupt or not a shard; errors of `body`
 * itself pass through unchanged.
 */
export async function* decodeShard(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: DecodeOptions = {},
): AsyncGenerator<SeriesPiece> {
  for await (const block of decodeShardBlocks(body, options)) yield* block;
}

/**
 * The same, a block at a time: each block's pieces come from a synchronous iterator, which must
 * be drained before the next block is asked for. Hot loops consume pieces without an await per
 * piece, which keeps a restore's per-sample work out of async machinery (docs/BENCHMARKS.md).
 */
export async function* decodeShardBlocks(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: DecodeOptions = {},
): AsyncGenerator<Iterable<SeriesPiece>> {
  const it = Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : fromSync(body[Symbol.iterator]());
  let sourceError: { error: unknown } | undefined;
  // Records which errors came from the body itself, so they are not reported as corruption.
  const tracked: AsyncIterator<Uint8Array> = {
    next: async () => {
      try {
        return await it.next();
      } catch (error) {
        sourceError = { error };
        throw error;
      }
    },
    return: async () => (it.return ? it.return() : { done: true, value: undefined }),
  };
  let z: zlib.BrotliDecompress | zlib.Inflate | undefined;
  let closeSource = true;
  let fed = 0;
  try {
    const outer = new ChunkReader(tracked);
    const header = await outer.exact(HEADER_BYTES, 'the header');
    const { codec, version } = decodeHeader(header);
    const families = new Set<string>();
    let payload: AsyncIterable<Uint8Array>;
    if (codec === 'none') {
      payload = outer.rest();
    } else {
      closeSource = false; // the pipeline closes it
      z =
        codec === 'brotli'
          ? zlib.createBrotliDecompress({ chunkSize: 64 * 1024 })
          : zlib.createInflate({ chunkSize: 64 * 1024 });
      const compressed = outer.rest();
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const chunk of compressed) {
          fed += chunk.length;
          yield chunk;
        }
      }
      pipeline(Readable.from(counted(), { objectMode: true, highWaterMark: 2 }), z, () => {
        // Errors surface through the iteration of z.
      });
      payload = z as AsyncIterable<Buffer>;
    }
    const r = new ChunkReader(payload[Symbol.asyncIterator]());
    const blocks = new BlockReader();
    for (;;) {
      if (await r.eof()) throw corrupt('stream ends before the end record (truncated)');
      const type = await r.byte('a record');
      if (type === RECORD_BLOCK) {
        const len = await r.uvarint('a block header');
        if (len > LIMITS.maxBlockBodyBytes) throw corrupt(`block of ${len} bytes exceeds the limit`);
        const crc = await r.exact(4, 'a block header');
        const bodyBytes = await r.exact(len, 'a block');
        const want =
          ((crc[0] as number) | ((crc[1] as number) << 8) | ((crc[2] as number) << 16) | ((crc[3] as number) << 24)) >>>
          0;
        if (crc32(bodyBytes) !== want) throw corrupt(`block ${blocks.blocks} fails its CRC-32 check`);
        yield blocks.decode(bodyBytes);
      } else if (type === RECORD_METADATA && version >= METADATA_FORMAT_VERSION) {
        const len = await r.uvarint('a metadata record');
        if (len > LIMITS.maxBlockBodyBytes) throw corrupt(`metadata record of ${len} bytes exceeds the limit`);
        const want = u32(await r.exact(4, 'a metadata record'));
        const bodyBytes = await r.exact(len, 'a metadata record');
        if (crc32(bodyBytes) !== want)
          throw corrupt(`metadata record before block ${blocks.blocks} fails its CRC-32 check`);
        const entries = decodeMetadataBody(bodyBytes, families);
        options.onMetadata?.(entries);
      } else if (type === RECORD_END) {
        const nBlocks = await r.uvarint('the end record');
        const nSeries = await r.uvarint('the end record');
        const nSamples = await r.uvarint('the end record');
        const crc = await r.exact(4, 'the end record');
        const check = [RECORD_END, ...varintBytes(nBlocks), ...varintBytes(nSeries), ...varintBytes(nSamples)];
        const want =
          ((crc[0] as number) | ((crc[1] as number) << 8) | ((crc[2] as number) << 16) | ((crc[3] as number) << 24)) >>>
          0;
        if (crc32(Uint8Array.from(check)) !== want) throw corrupt('end record fails its CRC-32 check');
        if (nBlocks !== blocks.blocks || nSeries !== blocks.series || nSamples !== blocks.samples) {
          throw corrupt(
            `end record says ${nBlocks} blocks, ${nSeries} series, ${nSamples} samples; decoded ${blocks.blocks}, ${blocks.series}, ${blocks.samples}`,
          );
        }
        if (!(await r.eof())) throw corrupt('bytes after the end record');
        // The decompressor has taken all input once its output ended; it ignores what follows
        // the end of its stream, so count that here.
        if (z && z.bytesWritten !== fed) throw corrupt(`${fed - z.bytesWritten} bytes after the compressed stream`);
        return;
      } else {
        throw corrupt(`unknown record type ${type}`);
      }
    }
  } catch (e) {
    if (sourceError) throw sourceError.error;
    if (e instanceof CorruptShardError) throw e;
    if (isZlibError(e)) throw corrupt(`payload does not decompress (${(e as Error).message})`);
    throw e;
  } finally {
    z?.destroy();
    if (closeSource && !sourceError) await it.return?.();
  }
}

function u32(b: Uint8Array): number {
  return ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24)) >>> 0;
}

function fromSync(it: Iterator<Uint8Array>): AsyncIterator<Uint8Array> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
