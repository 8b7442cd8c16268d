import { Writer } from 'protobufjs/minimal';
import { int64Size, readInt64, readUint64, writeInt64 } from '../../../../lambdas/core/prom/varint';
import { snappyCompress, snappyUncompress } from '../../../../lambdas/core/prom/snappy';
import { DecodeError } from '../../../../lambdas/core/prom/decode-error';
import { prng } from './helpers';

const VALUES = [
  0,
  1,
  127,
  128,
  255,
  16383,
  16384,
  2 ** 21 - 1,
  2 ** 21,
  2 ** 28 - 1,
  2 ** 28,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 35,
  2 ** 42 + 5,
  1_700_000_000_123,
  Number.MAX_SAFE_INTEGER,
  -1,
  -2,
  -128,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 32),
  -1_700_000_000_123,
  Number.MIN_SAFE_INTEGER,
];

describe('int64 varints', () => {
  it.each(VALUES)('writes %d exactly as protobufjs does and reads it back', (n) => {
    const expected = Writer.create().int64(n).finish();
    const buf = new Uint8Array(12);
    const end = writeInt64(buf, 0, n);
    expect(Buffer.from(buf.subarray(0, end)).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect(int64Size(n)).toBe(end);
    const cursor = { buf, pos: 0, len: end };
    expect(readInt64(cursor)).toBe(n);
    expect(cursor.pos).toBe(end);
  });

  it('reads uint64 beyond 2^63 as unsigned', () => {
    const buf = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(readInt64({ buf, pos: 0, len: buf.length })).toBe(-1);
    expect(readUint64({ buf, pos: 0, len: buf.length })).toBe(2 ** 64);
  });

  it('reads math.MaxInt64 (an open head chunk end) as 2^63', () => {
    const buf = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(readInt64({ buf, pos: 0, len: buf.length })).toBe(2 ** 63);
  });

  it('fails on truncated and over-long varints', () => {
    expect(() => readInt64({ buf: Uint8Array.from([0x80, 0x80]), pos: 0, len: 2 })).toThrow(DecodeError);
    const long = new Uint8Array(11).fill(0x80);
    expect(() => readInt64({ buf: long, pos: 0, len: 11 })).toThrow(/longer than 10 bytes/);
  });
});

describe('snappy', () => {
  it('round-trips blocks', () => {
    const rnd = prng(5);
    for (const n of [0, 1, 100, 70_000]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? Math.floor(rnd() * 256) : i & 0xff));
      expect(Buffer.from(snappyUncompress(snappyCompress(data))).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('fails with DecodeError on damage and on blocks claiming to be too large', () => {
    const block = snappyCompress(new Uint8Array(1000).fill(7));
    expect(() => snappyUncompress(block.subarray(0, block.length - 2))).toThrow(DecodeError);
    expect(() => snappyUncompress(block, 999)).toThrow(/expands to 1000 bytes, more than the 999 allowed/);
    expect(() => snappyUncompress(Uint8Array.from([0xff, 0xff]))).toThrow(DecodeError);
  });
});
