import { crc32c } from '../../../../lambdas/core/prom/crc32c';
import { CorruptFrameError } from '../../../../lambdas/core/prom/decode-error';
import { encodeFrame, readFrames } from '../../../../lambdas/core/prom/frames';
import { TransientError } from '../../../../lambdas/core/errors';
import { chunked, collect, concatBytes, prng } from './helpers';

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Bitwise reference CRC-32C. */
function slowCrc32c(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check values', () => {
    expect(crc32c(bytesOf('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bitwise implementation at every length and offset, and continues across pieces', () => {
    const rnd = prng(1);
    const data = Uint8Array.from({ length: 300 }, () => Math.floor(rnd() * 256));
    for (let len = 0; len < 40; len++) {
      for (let off = 0; off < 9; off++) {
        const part = data.subarray(off, off + len);
        expect(crc32c(data, 0, off, off + len)).toBe(slowCrc32c(part));
      }
    }
    expect(crc32c(data, crc32c(data, 0, 0, 123), 123)).toBe(slowCrc32c(data));
  });
});

describe('readFrames', () => {
  const rnd = prng(2);
  const messages = [0, 1, 5, 127, 128, 300, 20_000].map((n) =>
    Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256)),
  );
  const body = concatBytes(messages.map(encodeFrame));

  it.each([1, 2, 3, 7, 64, 1000, 1 << 20])(
    'yields every message when the body arrives in %i-byte chunks',
    async (size) => {
      const got = await collect(readFrames(chunked(body, size), 1 << 20));
      expect(got.map((m) => Buffer.from(m).toString('hex'))).toEqual(
        messages.map((m) => Buffer.from(m).toString('hex')),
      );
    },
  );

  it('writes frames as uvarint length, big-endian CRC32C, message', () => {
    const frame = encodeFrame(bytesOf('123456789'));
    expect(Array.from(frame.subarray(0, 5))).toEqual([9, 0xe3, 0x06, 0x92, 0x83]);
  });

  it('never hands out a buffer that later changes', async () => {
    const got = await collect(readFrames(chunked(body, 3)));
    const again = await collect(readFrames(chunked(body, 3)));
    expect(got.map((m) => Buffer.from(m).toString('hex'))).toEqual(again.map((m) => Buffer.from(m).toString('hex')));
  });

  it('names the offset of a frame whose checksum does not match', async () => {
    const bad = body.slice();
    const offset =
      encodeFrame(messages[0]!).length + encodeFrame(messages[1]!).length + encodeFrame(messages[2]!).length;
    const at = offset + 1 + 4 + 2; // a byte inside the 4th message
    bad[at] = bad[at]! ^ 0x40;
    for (const size of [1, 4096]) {
      const err = await collect(readFrames(chunked(bad, size))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptFrameError);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as CorruptFrameError).frameOffset).toBe(offset);
      expect((err as Error).message).toMatch(
        new RegExp(`frame at body offset ${offset} \\(127 bytes\\) has CRC32C 0x[0-9a-f]{8} but its header says`),
      );
    }
  });

  it('fails on a body that ends inside a frame header or message', async () => {
    const cutHeader = body.subarray(0, body.length - 20_000 - 3);
    await expect(collect(readFrames(chunked(cutHeader, 5)))).rejects.toThrow(/cut off inside its 4-byte header/);
    const cutMessage = body.subarray(0, body.length - 10);
    await expect(collect(readFrames(chunked(cutMessage, 5)))).rejects.toThrow(
      /cut off after 19990 of 20000 message bytes/,
    );
  });

  it('refuses frames longer than the limit before buffering them', async () => {
    await expect(collect(readFrames(chunked(body, 100), 10_000))).rejects.toThrow(
      /declares 20000 bytes, more than the 10000 allowed/,
    );
  });

  it('shows text a server wrote into the stream instead of a frame', async () => {
    const text = bytesOf('expanding series: context canceled\n');
    const err = await collect(readFrames(chunked(concatBytes([encodeFrame(messages[3]!), text]), 8))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptFrameError);
    expect((err as Error).message).toContain('expanding series');
  });

  it('yields nothing for an empty body', async () => {
    expect(await collect(readFrames(chunked(new Uint8Array(0), 1)))).toEqual([]);
  });
});
