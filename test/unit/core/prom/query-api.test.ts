import {
  formatApiTime,
  GO_NAN_BITS,
  groupMatchers,
  countByName,
  matrixPieces,
  parseApiTime,
  parseApiValue,
  quoteRegex,
  rangeQuery,
  seriesList,
} from '../../../../lambdas/core/prom/query-api';
import { matchValue, parseSelector } from '../../../../lambdas/core/prom/selector';
import type { Labels } from '../../../../lambdas/core/types';
import { Rng } from '../../../fixtures/prng';

const bitsOf = (v: number) => new BigUint64Array(Float64Array.of(v).buffer)[0]!;
const fromBits = (b: bigint) => new Float64Array(BigUint64Array.of(b).buffer)[0]!;

/** Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus writes values: shortest digits, no exponent. */
function goFormatF(v: number): string {
  if (Object.is(v, -0)) return '-0';
  const [mantissa, exp] = v.toExponential().split('e') as [string, string];
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  const point = Number(exp) + 1;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = digits.slice(0, point) + '.' + digits.slice(point);
  return (negative ? '-' : '') + out;
}

describe('parseApiValue', () => {
  it.each([
    ['NaN', GO_NAN_BITS],
    ['+Inf', bitsOf(Infinity)],
    ['-Inf', bitsOf(-Infinity)],
    ['-0', 0x8000000000000000n],
    ['0', 0n],
    ['1e+300', bitsOf(1e300)],
    ['5e-324', 1n],
  ])('%s is exact', (text, bits) => {
    expect(parseApiValue(text)).toBe(bits);
  });

  it("Go's shortest 'f' and 'e' forms of any finite double parse back to the same bits", () => {
    const rng = new Rng(16);
    const specials = [
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      2.2250738585072014e-308,
      0.1,
      1 / 3,
      2 ** 53 + 2,
    ];
    const values = [...specials];
    for (let i = 0; i < 20_000; i++) {
      const bits = (BigInt(rng.int(0, 0xffffffff)) << 32n) | BigInt(rng.int(0, 0xffffffff));
      const v = fromBits(bits);
      if (Number.isFinite(v)) values.push(v);
    }
    for (const v of values) {
      expect(parseApiValue(goFormatF(v))).toBe(bitsOf(v));
      expect(parseApiValue(String(v))).toBe(bitsOf(v));
    }
  });

  it.each([['1,5'], [''], ['Infinity'], ['0x10'], [1.5], [null]])('refuses %p', (text) => {
    expect(() => parseApiValue(text)).toThrow(/bad sample value/);
  });
});

describe('times', () => {
  it.each([
    [1700000000123, '1700000000.123'],
    [1700000000000, '1700000000.000'],
    [5, '0.005'],
    [-1, '-0.001'],
  ])('%d ms is %s s', (ms, text) => {
    expect(formatApiTime(ms)).toBe(text);
    expect(parseApiTime(Number(text))).toBe(ms);
  });

  it('the query of [start, end) is evaluated 1 ms before the end with the window as its range', () => {
    const q = rangeQuery(parseSelector('{job="a"}'), { startMs: 1_000_000, endMs: 1_060_000 });
    expect(q).toEqual({ query: '{job="a"}[60000ms]', time: '1059.999' });
    expect(rangeQuery([], { startMs: 0, endMs: 5 }).query).toBe('{__name__=~".+"}[5ms]');
  });
});

describe('quoteRegex', () => {
  const hostile = ['a.b', 'a|b', '(x)', '[a-z]+', 'x{2}', '^$', 'back\\slash', '?*+', 'new\nline', ''];
  it.each(hostile)('%p as a regex alternative matches itself and nothing else', (value) => {
    const m = { type: '=~' as const, name: 'l', value: [quoteRegex(value), quoteRegex('other')].join('|') };
    expect(matchValue(m, value)).toBe(true);
    for (const other of hostile) if (other !== value) expect(matchValue(m, other)).toBe(false);
  });
});

describe('groupMatchers', () => {
  const series = (name: string, labels: Record<string, string>): Labels =>
    [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))].sort(
      (a, b) => (a.name < b.name ? -1 : 1),
    );
  const all = [
    series('a', { i: '1' }),
    series('a', { i: '2' }),
    series('a', { i: '3' }),
    series('b', {}),
    series('c', {}),
  ];
  const counts = countByName(all);

  it('a group holding every series of its names selects by name', () => {
    expect(groupMatchers([], all.slice(3), counts)).toEqual([{ type: '=~', name: '__name__', value: 'b|c' }]);
    expect(groupMatchers(parseSelector('{job="x"}'), all.slice(0, 3), counts)).toEqual([
      { type: '=', name: 'job', value: 'x' },
      { type: '=', name: '__name__', value: 'a' },
    ]);
  });

  it('a group holding some series of a name adds the label that tells them apart', () => {
    expect(groupMatchers([], all.slice(0, 2), counts)).toEqual([
      { type: '=', name: '__name__', value: 'a' },
      { type: '=~', name: 'i', value: '1|2' },
    ]);
    expect(groupMatchers([], all.slice(2, 3), counts)).toEqual([
      { type: '=', name: '__name__', value: 'a' },
      { type: '=', name: 'i', value: '3' },
    ]);
  });
});

describe('matrixPieces', () => {
  const window = { startMs: 10_000, endMs: 20_000 };
  const data = (result: unknown[]) => ({ resultType: 'matrix', result });

  it('keeps [start, end), sorts series in label-set order and keeps the exact values', () => {
    const { pieces, samples } = matrixPieces(
      data([
        {
          metric: { __name__: 'b' },
          values: [
            [9.999, '1'],
            [10, '-0'],
            [19.999, 'NaN'],
            [20, '4'],
          ],
        },
        { metric: { __name__: 'a', z: '1' }, values: [[15, '+Inf']] },
        { metric: { __name__: 'c' }, values: [[9.999, '1']] },
      ]),
      window,
    );
    expect(samples).toBe(3);
    expect(pieces.map((p) => p.labels[0]!.value)).toEqual(['a', 'b']);
    expect([...pieces[1]!.timestamps]).toEqual([10_000, 19_999]);
    const v = pieces[1]!.values;
    expect([...new BigUint64Array(v.buffer, v.byteOffset, v.length)]).toEqual([0x8000000000000000n, GO_NAN_BITS]);
  });

  it.each([
    [{ resultType: 'vector', result: [] }, /expected a matrix/],
    [
      data([
        {
          metric: { __name__: 'a' },
          values: [
            [11, '1'],
            [11, '2'],
          ],
        },
      ]),
      /out of order/,
    ],
    [
      data([
        { metric: { __name__: 'a' }, values: [[11, '1']] },
        { metric: { __name__: 'a' }, values: [[12, '1']] },
      ]),
      /answered twice/,
    ],
    [data([{ metric: { __name__: 'a' }, histograms: [] }]), /native histogram/],
    [data([{ metric: { __name__: 1 }, values: [] }]), /not a string/],
  ])('refuses a bad answer (%#)', (answer, message) => {
    expect(() => matrixPieces(answer, window)).toThrow(message);
  });

  it('seriesList sorts and drops duplicates', () => {
    expect(seriesList([{ __name__: 'b' }, { __name__: 'a' }, { __name__: 'b' }])).toEqual([
      [{ name: '__name__', value: 'a' }],
      [{ name: '__name__', value: 'b' }],
    ]);
  });
});
