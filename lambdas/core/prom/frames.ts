/**
 * The framing of streamed remote-read bodies (Content-Type: application/x-streamed-protobuf;
 * proto=prometheus.ChunkedReadResponse): each frame is
 *   uvarint  message length
 *   uint32   CRC32C (Castagnoli) of the message, big-endian
 *   bytes    the message
 */
import { crc32c } from './crc32c';
import { CorruptFrameError } from './decode-error';
import { writeVarintBits } from './varint';

/** Prometheus' default --storage.remote.read-max-bytes-in-frame is 1 MiB; frames overshoot by up to one chunk. */
export const DEFAULT_MAX_FRAME_BYTES = 64 << 20;

/** Wraps one message in a frame (for test servers). */
export function encodeFrame(message: Uint8Array): Uint8Array {
  const header = new Uint8Array(14);
  let p = writeVarintBits(header, 0, 0, message.length);
  const crc = crc32c(message);
  header[p++] = crc >>> 24;
  header[p++] = (crc >>> 16) & 0xff;
  header[p++] = (crc >>> 8) & 0xff;
  header[p++] = crc & 0xff;
  const out = new Uint8Array(p + message.length);
  out.set(header.subarray(0, p));
  out.set(message, p);
  return out;
}

/** Printable preview of bytes that should have been a frame (servers write errors as text mid-stream). */
function preview(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.subarray(0, 200)).toString('latin1');
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]/g, '');
  if (printable.length < text.length * 0.9 || printable.trim() === '') return '';
  return `; the body there reads ${JSON.stringify(printable.slice(0, 160))}`;
}

/**
 * Yields the messages of a framed stream, verifying every checksum. Frames may be split across
 * body chunks at any byte. Holds at most one frame plus the current body chunk. A yielded
 * message is a view of a body chunk or a fresh buffer; it is never overwritten.
 *
 * Throws CorruptFrameError (naming the frame's byte offset in the body) on a checksum mismatch,
 * a frame longer than maxFrameBytes, or a body that ends inside a frame.
 */
export async function* readFrames(
  body: AsyncIterable<Uint8Array>,
  maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
): AsyncGenerator<Uint8Array, void, undefined> {
  /** Body offset of the current frame's first byte. */
  let frameOffset = 0;
  /** Header bytes seen so far of the current frame (varint + crc, at most 10 + 4). */
  const header = new Uint8Array(14);
  let headerLen = 0;
  /** Bytes of the length varint once complete, else 0. */
  let varLen = 0;
  /** Length and crc once the header is complete. */
  let size = -1;
  let expectedCrc = 0;
  /** A frame being assembled across chunks. */
  let partial: Uint8Array | undefined;
  let partialLen = 0;

  const fail = (what: string, bytes?: Uint8Array): never => {
    throw new CorruptFrameError(
      `corrupt remote-read stream: frame at body offset ${frameOffset} ${what}${bytes ? preview(bytes) : ''}`,
      frameOffset,
    );
  };

  const verify = (msg: Uint8Array): void => {
    const actual = crc32c(msg);
    if (actual !== expectedCrc) {
      const headerBytes = header.subarray(0, headerLen);
      const all = new Uint8Array(headerBytes.length + Math.min(msg.length, 200));
      all.set(headerBytes);
      all.set(msg.subarray(0, all.length - headerBytes.length), headerBytes.length);
      fail(`(${size} bytes) has CRC32C ${hex(actual)} but its header says ${hex(expectedCrc)}`, all);
    }
  };

  for await (const chunk of body) {
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (size < 0) {
        // Header: uvarint length then 4 crc bytes.
        while (p < n && size < 0) {
          const byte = chunk[p++]!;
          header[headerLen++] = byte;
          if (varLen === 0) {
            if (byte < 0x80) varLen = headerLen;
            else if (headerLen === 10) fail('has a length prefix longer than 10 bytes', header);
            continue;
          }
          if (headerLen === varLen + 4) {
            let len = 0;
            for (let i = varLen - 1; i >= 0; i--) len = len * 128 + (header[i]! & 0x7f);
            if (len > maxFrameBytes) {
              fail(
                `declares ${len} bytes, more than the ${maxFrameBytes} allowed`,
                concat(header, headerLen, chunk, p),
              );
            }
            expectedCrc =
              ((header[varLen]! << 24) |
                (header[varLen + 1]! << 16) |
                (header[varLen + 2]! << 8) |
                header[varLen + 3]!) >>>
              0;
            size = len;
          }
        }
        if (size < 0) break;
        if (n - p >= size) {
          // The whole message is in this chunk: no copy.
          const msg = chunk.subarray(p, p + size);
          p += size;
          verify(msg);
          yield msg;
          frameOffset += headerLen + size;
          headerLen = 0;
          varLen = 0;
          size = -1;
          continue;
        }
        partial = new Uint8Array(size);
        partialLen = 0;
      }
      // Continue a frame split across chunks.
      const take = Math.min(size - partialLen, n - p);
      partial!.set(chunk.subarray(p, p + take), partialLen);
      partialLen += take;
      p += take;
      if (partialLen === size) {
        const msg = partial!;
        partial = undefined;
        verify(msg);
        yield msg;
        frameOffset += headerLen + size;
        headerLen = 0;
        varLen = 0;
        size = -1;
      }
    }
  }
  if (headerLen > 0) {
    fail(
      size < 0
        ? `is cut off inside its ${headerLen}-byte header`
        : `is cut off after ${partialLen} of ${size} message bytes`,
      partial ? concat(header, headerLen, partial, 0, partialLen) : header.subarray(0, headerLen),
    );
  }
}

function concat(header: Uint8Array, headerLen: number, chunk: Uint8Array, p: number, end = p + 200): Uint8Array {
  const rest = chunk.subarray(p, Math.min(end, p + 200));
  const out = new Uint8Array(headerLen + rest.length);
  out.set(header.subarray(0, headerLen));
  out.set(rest, headerLen);
  return out;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
