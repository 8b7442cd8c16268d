import { emptyObjectArray } from '../../../../lambdas/core/arrays';
import { CorruptShardError } from '../../../../lambdas/core/errors';
import { ByteReader, ByteWriter } from '../../../../lambdas/core/format/bytes';

// Past 2^30 V8 leaves small integers; past 2^31 and 2^32 the 32-bit tricks end; [-2^52, 2^52) is
// the writer's range for signed values (their zigzag form reaches 2^53 - 1).
const EDGES = [
  0,
  1,
  -1,
  63,
  -64,
  64,
  127,
  128,
  2 ** 30 - 1,
  2 ** 30,
  -(2 ** 30) - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32 + 1,
  -(2 ** 32) - 1,
  2 ** 52 - 1,
  -(2 ** 52),
];

function readerOf(w: ByteWriter): ByteReader {
  const bytes = w.view();
  return new ByteReader(bytes, 0, bytes.length, 'test stream');
}

describe('varints', () => {
  it('round-trips signed values at every representation edge, in order', () => {
    const w = new ByteWriter(16);
    for (const v of EDGES) w.svarint(v);
    const r = readerOf(w);
    expect(EDGES.map(() => r.svarint())).toEqual(EDGES);
    expect(r.atEnd()).toBe(true);
  });

  it('round-trips unsigned values, one-byte and longer mixed', () => {
    const values = [0, 127, 128, 1, 2 ** 31, 5, Number.MAX_SAFE_INTEGER, 0x7f];
    const w = new ByteWriter(16);
    for (const v of values) w.uvarint(v);
    const r = readerOf(w);
    expect(values.map(() => r.uvarint())).toEqual(values);
  });

  it('reports a varint cut short by the end of its stream, by stream name', () => {
    const w = new ByteWriter(16);
    w.uvarint(300);
    const bytes = w.view();
    const r = new ByteReader(bytes, 0, bytes.length - 1, 'test stream');
    expect(() => r.uvarint()).toThrow(CorruptShardError);
    expect(() => new ByteReader(bytes, 0, bytes.length - 1, 'test stream').uvarint()).toThrow(/test stream ends early/);
    expect(() => new ByteReader(bytes, 0, 0, 'empty stream').uvarint()).toThrow(/empty stream ends early/);
  });
});

describe('emptyObjectArray', () => {
  it('is a new, empty, growable array each time', () => {
    const a = emptyObjectArray<{ n: number }>();
    const b = emptyObjectArray<{ n: number }>();
    expect(a).toEqual([]);
    expect(a).not.toBe(b);
    a.push({ n: 1 });
    expect(a).toEqual([{ n: 1 }]);
    expect(b).toEqual([]);
  });
});
