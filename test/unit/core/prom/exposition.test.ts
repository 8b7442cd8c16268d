import {
  ExpositionParseError,
  GO_NAN_BITS,
  parseExposition,
  parseGoFloat,
} from '../../../../lambdas/core/prom/exposition';
import { formatLabels } from '../../../../lambdas/core/labels';

const bits = (v: Float64Array, i: number) => new BigUint64Array(v.buffer, v.byteOffset, v.length)[i];
const f64bits = (x: number) => new BigUint64Array(new Float64Array([x]).buffer)[0];

describe('parseExposition', () => {
  it('reads samples with labels, values and timestamps, labels sorted by name', () => {
    const parsed = parseExposition(
      [
        '# HELP up Whether the target is up.',
        '# TYPE up gauge',
        'up{job="prometheus",instance="localhost:9090"} 1 1700000000123',
        'up 0',
        '',
      ].join('\n'),
    );
    expect(parsed.labels).toEqual([
      [
        { name: '__name__', value: 'up' },
        { name: 'instance', value: 'localhost:9090' },
        { name: 'job', value: 'prometheus' },
      ],
      [{ name: '__name__', value: 'up' }],
    ]);
    expect([...parsed.values]).toEqual([1, 0]);
    expect(parsed.timestamps[0]).toBe(1700000000123);
    expect(parsed.timestamps[1]).toBeNaN();
    expect(parsed.metadata).toEqual([
      { metricFamilyName: 'up', type: 'gauge', help: 'Whether the target is up.', unit: '' },
    ]);
  });

  it('unescapes \\\\, \\" and \\n in label values, and keeps everything else byte-exact', () => {
    const parsed = parseExposition(
      'm{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="",e="ünï 🚀 \t tab",f="\\\\n"} 1 5\n',
    );
    const labels = Object.fromEntries(parsed.labels[0]!.map((l) => [l.name, l.value]));
    expect(labels).toEqual({
      __name__: 'm',
      a: 'back\\slash',
      b: 'say "hi"',
      c: 'two\nlines',
      d: '',
      e: 'ünï 🚀 \t tab',
      f: '\\n',
    });
  });

  it('unescapes \\\\ and \\n in HELP, keeps quotes and trailing blanks', () => {
    const parsed = parseExposition('# HELP m a \\\\ b\\nc "q" \n# TYPE m counter\nm 1\n');
    expect(parsed.metadata).toEqual([{ metricFamilyName: 'm', type: 'counter', help: 'a \\ b\nc "q" ', unit: '' }]);
  });

  it('maps every text type, untyped to unknown, and leaves families without TYPE unknown', () => {
    const parsed = parseExposition(
      [
        '# TYPE a counter',
        '# TYPE b GAUGE',
        '# TYPE c histogram',
        '# TYPE d summary',
        '# TYPE e untyped',
        '# HELP f only help',
      ].join('\n'),
    );
    expect(parsed.metadata.map((m) => [m.metricFamilyName, m.type])).toEqual([
      ['a', 'counter'],
      ['b', 'gauge'],
      ['c', 'histogram'],
      ['d', 'summary'],
      ['e', 'unknown'],
      ['f', 'unknown'],
    ]);
    expect(parsed.labels).toEqual([]);
  });

  it('accepts blanks and tabs between tokens, a trailing comma, {}, comments and a last line without newline', () => {
    const parsed = parseExposition(
      '  # just a comment\n#\n# HELP\n# TYPE x\n\t m { a = "1" , } \t 2.5 \t 7 \t\nn{} -1\nk{a="b",}\t3',
    );
    expect(parsed.labels.map(formatLabels)).toEqual(['m{a="1"}', 'n{}', 'k{a="b"}']);
    expect([...parsed.values]).toEqual([2.5, -1, 3]);
    expect([...parsed.timestamps].map((t) => (Number.isNaN(t) ? null : t))).toEqual([7, null, null]);
    expect(parsed.metadata).toEqual([]);
  });

  it('parses NaN as Go does (0x7ff8000000000001), ±Inf in every spelling Go accepts', () => {
    const parsed = parseExposition('a NaN\nb nan\nc +Inf\nd -Inf\ne inf\nf -infinity\ng +INF\n');
    expect(bits(parsed.values, 0)).toBe(GO_NAN_BITS);
    expect(bits(parsed.values, 1)).toBe(GO_NAN_BITS);
    expect([...parsed.values.slice(2)]).toEqual([Infinity, -Infinity, Infinity, -Infinity, Infinity]);
  });

  it('parses floats exactly: -0, denormals, the extremes, shortest round-trip forms', () => {
    const cases: [string, number][] = [
      ['-0', -0],
      ['0.1', 0.1],
      ['1e+06', 1e6],
      ['1.5e-07', 1.5e-7],
      ['5e-324', 5e-324],
      ['2.2250738585072014e-308', 2.2250738585072014e-308],
      ['1.7976931348623157e+308', 1.7976931348623157e308],
      ['9007199254740993', 9007199254740992],
      ['0.30000000000000004', 0.30000000000000004],
      ['.5', 0.5],
      ['5.', 5],
      ['+3', 3],
      ['123456789012345678901234567890', 1.2345678901234568e29],
    ];
    const parsed = parseExposition(cases.map(([text], i) => `m{i="${i}"} ${text}`).join('\n'));
    cases.forEach(([, expected], i) => expect(bits(parsed.values, i)).toBe(f64bits(expected)));
  });

  it('keeps negative and large timestamps exact', () => {
    const parsed = parseExposition('a 1 -5\nb 1 +12\nc 1 9007199254740991\n');
    expect([...parsed.timestamps]).toEqual([-5, 12, 9007199254740991]);
  });

  it.each<[string, string, RegExp]>([
    [
      'an unknown escape in a label value',
      'm{a="x\\ty"} 1',
      /line 1 .*invalid escape sequence "\\\\t" in a label value/,
    ],
    ['an unclosed label value', 'm{a="x} 1', /label value is not closed/],
    ['a label value without quotes', 'm{a=x} 1', /expected '"' to open the value of label a/],
    ['a missing comma', 'm{a="1" b="2"} 1', /expected ',' or '}'/],
    ['a duplicate label', 'm{a="1",a="2"} 1', /label a appears twice/],
    ['__name__ in braces', 'm{__name__="x"} 1', /__name__ is reserved/],
    ['a bad label name', 'm{1a="x"} 1', /expected a label name/],
    ['a missing value', 'm{a="1"}', /expected a value/],
    ['a bad value', 'm 1,5', /"1,5" is not a float value/],
    ['a hex value', 'm 0x10', /"0x10" is not a float value/],
    ['an out-of-range value', 'm 1e400', /"1e400" is not a float value/],
    ['an empty-looking value', 'm Infinit', /is not a float value/],
    ['a fractional timestamp', 'm 1 1.5', /"1.5" is not a timestamp/],
    ['a timestamp beyond 2^53', 'm 1 9007199254740993', /not a timestamp/],
    ['text after the timestamp', 'm 1 2 3', /unexpected text after the timestamp/],
    ['a line that is no metric', '{a="b"} 1', /expected a metric name/],
    ['a second HELP', '# HELP m a\n# HELP m b', /line 2 .*second HELP line for metric m/],
    ['a second TYPE', '# TYPE m gauge\n# TYPE m gauge', /second TYPE line/],
    ['an unknown type', '# TYPE m meter', /unknown metric type "meter"/],
    ['text after the type', '# TYPE m gauge extra', /unexpected text after the metric type/],
    ['a bad escape in HELP', '# HELP m a \\" b', /invalid escape sequence .* in HELP/],
    ['a bad metric name in TYPE', '# TYPE 1m gauge', /"1m" is not a metric name/],
    ['a carriage return', 'm 1\r\n', /"1\\r" is not a float value/],
  ])('rejects %s, naming line and problem', (_what, text, message) => {
    expect(() => parseExposition(text)).toThrow(ExpositionParseError);
    expect(() => parseExposition(text)).toThrow(message);
  });

  it('parses the /federate output of a Prometheus (histogram, summary, exemplar-free)', () => {
    const text = [
      '# TYPE prometheus_http_request_duration_seconds histogram',
      'prometheus_http_request_duration_seconds_bucket{handler="/federate",instance="127.0.0.1:9090",job="prometheus",le="0.1"} 3 1700000000000',
      'prometheus_http_request_duration_seconds_bucket{handler="/federate",instance="127.0.0.1:9090",job="prometheus",le="+Inf"} 3 1700000000000',
      'prometheus_http_request_duration_seconds_sum{handler="/federate",instance="127.0.0.1:9090",job="prometheus"} 0.004233158 1700000000000',
      '# TYPE go_gc_duration_seconds summary',
      'go_gc_duration_seconds{instance="127.0.0.1:9090",job="prometheus",quantile="0.5"} NaN 1700000000000',
    ].join('\n');
    const parsed = parseExposition(text);
    expect(parsed.labels).toHaveLength(4);
    expect(parsed.labels[1]!.find((l) => l.name === 'le')?.value).toBe('+Inf');
    expect(parsed.values[2]).toBe(0.004233158);
    expect(bits(parsed.values, 3)).toBe(GO_NAN_BITS);
    expect(parsed.metadata.map((m) => m.type)).toEqual(['histogram', 'summary']);
  });

  it('grows past its first buffer without losing a value', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `m{i="${i}"} ${i === 999 ? 'NaN' : i} ${i}`);
    const parsed = parseExposition(lines.join('\n'));
    expect(parsed.values[998]).toBe(998);
    expect(bits(parsed.values, 999)).toBe(GO_NAN_BITS);
    expect(parsed.timestamps[500]).toBe(500);
  });
});

describe('parseGoFloat', () => {
  it.each(['', ' 1', '1 ', '1e', 'e1', '--1', '1_000', 'Infinityx', 'NaNa', '0x1p-2'])('rejects %j', (text) => {
    expect(parseGoFloat(text)).toBeUndefined();
  });
});
