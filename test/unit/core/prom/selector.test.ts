import { InputError } from '../../../../lambdas/core/errors';
import { formatSelector, matchLabels, parseSelector } from '../../../../lambdas/core/prom/selector';
import { translateRe2 } from '../../../../lambdas/core/prom/re2';
import type { LabelMatcher, Labels } from '../../../../lambdas/core/types';

const m = (name: string, type: LabelMatcher['type'], value: string): LabelMatcher => ({ name, type, value });

describe('parseSelector', () => {
  it.each<[string, LabelMatcher[]]>([
    ['', []],
    ['   ', []],
    ['{}', []],
    [' { } ', []],
    ['up', [m('__name__', '=', 'up')]],
    ['node:cpu_seconds:rate5m', [m('__name__', '=', 'node:cpu_seconds:rate5m')]],
    ['up{}', [m('__name__', '=', 'up')]],
    ['{job="api",instance=~"10\\\\..*"}', [m('job', '=', 'api'), m('instance', '=~', '10\\..*')]],
    [
      'http_requests_total { job != "a" , code !~ "5..", path=~`/api/.*`, }',
      [
        m('__name__', '=', 'http_requests_total'),
        m('job', '!=', 'a'),
        m('code', '!~', '5..'),
        m('path', '=~', '/api/.*'),
      ],
    ],
    ['{a=\'it\\\'s\', b="say \\"hi\\""}', [m('a', '=', "it's"), m('b', '=', 'say "hi"')]],
    ['{a="\\a\\b\\f\\n\\r\\t\\v\\\\"}', [m('a', '=', '\x07\b\f\n\r\t\v\\')]],
    ['{a="\\x41\\101\\u00e9\\U0001F600"}', [m('a', '=', 'AAé😀')]],
    ['{a="\\xc3\\xa9"}', [m('a', '=', 'é')]],
    ['{a="ünï 🚀"}', [m('a', '=', 'ünï 🚀')]],
    ['{a=`raw \\n "q"\r\nline`}', [m('a', '=', 'raw \\n "q"\nline')]],
    ['{a=""}', [m('a', '=', '')]],
    ['{_x_1="v"}', [m('_x_1', '=', 'v')]],
    ['{"my.metric", "label.name"="v"}', [m('__name__', '=', 'my.metric'), m('label.name', '=', 'v')]],
    ['\n\tup\n{\n a = "b"\n}\n', [m('__name__', '=', 'up'), m('a', '=', 'b')]],
    ['{__name__=~"up|down",__name__!="x"}', [m('__name__', '=~', 'up|down'), m('__name__', '!=', 'x')]],
  ])('parses %j', (text, expected) => {
    expect(parseSelector(text)).toEqual(expected);
  });

  it.each<[string, RegExp]>([
    ['{job="api"', /position 11 \(at the end\): missing closing '}'/],
    ['{job="api" env="x"}', /position 12 .*expected ',' or '}' but found "e"/],
    ['{job=="api"}', /position 6 .*expected a quoted value after job= but found "="/],
    ['{job=api}', /expected a quoted value after job= but found "a"/],
    ['{job~"api"}', /position 5 .*expected one of = != =~ !~ after label job but found "~"/],
    ['{job}', /expected one of = != =~ !~ after label job but found "}"/],
    ['{1job="a"}', /position 2 .*expected a label name but found "1"/],
    ['{job="api}', /position 6 .*unterminated string \(missing closing "\)/],
    ['{job=`api}', /unterminated `raw string`/],
    ['up[5m]', /range selectors/],
    ['up offset 5m', /unexpected "o" after the selector/],
    ['"up"', /expected a metric name or '\{' but found/],
    ['up{__name__="down"}', /position 1 .*metric name is set twice/],
    ['{a="\\q"}', /position 5 .*unknown escape sequence \\q/],
    ['{a="\\\'"}', /unknown escape sequence \\'/],
    ['{a="x\ny"}', /newline inside a quoted string/],
    ['{a="\\xff"}', /do not form valid UTF-8/],
    ['{a="\\x4"}', /escape \\x needs 2 hex digits/],
    ['{a="\\uD800"}', /not a valid Unicode code point/],
    ['{a="\\400"}', /octal escape needs three digits/],
    ['{a=~"("}', /position 5 .*invalid regular expression "\(": Unterminated group/],
    ['{a=~"(?=x)"}', /lookahead and lookbehind are not supported/],
    ['{a=~"(a)\\\\1"}', /backreference/],
    ['{a=~"x{1001}"}', /exceeds 1000/],
  ])('rejects %j', (text, message) => {
    let err: unknown;
    try {
      parseSelector(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(message);
    expect(msg).toContain(`invalid selector ${JSON.stringify(text)}`);
    expect(msg).toContain('valid selectors look like e.g. up{job="api",instance=~"10\\\\..*"}');
  });
});

describe('formatSelector', () => {
  it('writes the canonical form: sorted, deduplicated, braces, double quotes', () => {
    expect(formatSelector([])).toBe('');
    expect(
      formatSelector([
        m('job', '=~', 'b'),
        m('__name__', '=', 'up'),
        m('job', '=', 'z'),
        m('job', '=~', 'a'),
        m('job', '=', 'z'),
      ]),
    ).toBe('{__name__="up",job="z",job=~"a",job=~"b"}');
    expect(formatSelector([m('a', '!~', 'x'), m('a', '=~', 'x'), m('a', '!=', 'x'), m('a', '=', 'x')])).toBe(
      '{a="x",a!="x",a=~"x",a!~"x"}',
    );
    expect(formatSelector([m('label.name', '=', 'q"\\\n\t\u0001é')])).toBe('{"label.name"="q\\"\\\\\\n\\t\\u0001é"}');
  });

  it('gives back the same matchers when parsed, whatever the original spelling', () => {
    const texts = [
      'up',
      'http_requests_total { job != \'a\' , code !~ `5..`, path=~"/api/.*", }',
      '{a="\\x41\\101\\u00e9\\U0001F600\\n\\t\\\\\\""}',
      '{"my.metric", "label.name"="v"}',
    ];
    for (const text of texts) {
      const parsed = parseSelector(text);
      const canonical = formatSelector(parsed);
      expect(formatSelector(parseSelector(canonical))).toBe(canonical);
      expect(new Set(parseSelector(canonical).map((x) => JSON.stringify(x)))).toEqual(
        new Set(parsed.map((x) => JSON.stringify(x))),
      );
    }
  });
});

describe('matchLabels', () => {
  const labels: Labels = [
    { name: '__name__', value: 'http_requests_total' },
    { name: 'instance', value: '10.0.0.1:9100' },
    { name: 'job', value: 'API' },
    { name: 'path', value: 'a\nb' },
  ];
  const ok = (selector: string) => matchLabels(labels, parseSelector(selector));

  it('applies = != =~ !~ with a missing label read as the empty string', () => {
    expect(ok('http_requests_total')).toBe(true);
    expect(ok('{job="API"}')).toBe(true);
    expect(ok('{job="api"}')).toBe(false);
    expect(ok('{job!="api"}')).toBe(true);
    expect(ok('{missing=""}')).toBe(true);
    expect(ok('{missing!=""}')).toBe(false);
    expect(ok('{missing=~".*"}')).toBe(true);
    expect(ok('{missing=~".+"}')).toBe(false);
    expect(ok('{missing!~"x"}')).toBe(true);
    expect(ok('{job="API",missing="x"}')).toBe(false);
    expect(ok('')).toBe(true);
  });

  it('anchors regular expressions at both ends', () => {
    expect(ok('{job=~"AP"}')).toBe(false);
    expect(ok('{job=~"P"}')).toBe(false);
    expect(ok('{job=~"API|x"}')).toBe(true);
    expect(ok('{job=~"x|API"}')).toBe(true);
    expect(ok('{job=~"A|PI"}')).toBe(false);
    expect(ok('{instance=~"10\\\\..*"}')).toBe(true);
    expect(ok('{instance=~"10\\\\.0"}')).toBe(false);
    expect(ok('{job!~"AP"}')).toBe(true);
  });

  it('follows RE2 where it differs from JavaScript', () => {
    expect(ok('{job=~"(?i)api"}')).toBe(true);
    // Prometheus 3 compiles matchers as ^(?s:re)$: '.' matches a newline, with or without (?s).
    expect(ok('{path=~"a.b"}')).toBe(true);
    expect(ok('{path=~"a.*"}')).toBe(true);
    expect(ok('{path!~".+"}')).toBe(false);
    expect(ok('{path=~"(?s)a.b"}')).toBe(true);
    expect(ok('{path=~"(?i)A.B"}')).toBe(true);
    expect(ok('{path=~"a[^x]b"}')).toBe(true);
    expect(ok('{path=~"(?m)a$"}')).toBe(false); // (?m) must not weaken the outer anchors
    expect(ok('{path=~"(?m)a$\\\\nb"}')).toBe(true);
    expect(ok('{instance=~"[[:digit:].]+:\\\\d+"}')).toBe(true);
    expect(ok('{instance=~"\\\\Q10.0.0.1\\\\E:9100"}')).toBe(true);
    expect(ok('{instance=~"\\\\Q10.0.0.1\\\\E:91"}')).toBe(false);
    expect(ok('{job=~"\\\\pL+"}')).toBe(true);
    expect(ok('{job=~"\\\\p{Lu}{3}"}')).toBe(true);
    expect(ok('{job=~"\\\\p{Greek}+"}')).toBe(false);
    expect(ok('{job=~"(?P<x>A)PI"}')).toBe(true);
    expect(ok('{job=~"[]A]PI"}')).toBe(true);
    expect(ok('{job=~"\\\\x{41}PI"}')).toBe(true);
    expect(ok('{job=~"\\\\101PI"}')).toBe(true);
    expect(ok('{job=~"API\\\\z"}')).toBe(true);
    expect(ok('{job=~"\\\\-?API"}')).toBe(true);
    expect(ok('{job=~"A{1}PI"}')).toBe(true);
    expect(matchLabels([{ name: 'a', value: 'x{' }], parseSelector('{a=~"x{"}'))).toBe(true);
    expect(matchLabels([{ name: 'a', value: '🚀' }], parseSelector('{a=~"."}'))).toBe(true);
    expect(matchLabels([{ name: 'a', value: '\v' }], parseSelector('{a=~"\\\\s"}'))).toBe(false);
    expect(matchLabels([{ name: 'a', value: ' ' }], parseSelector('{a=~"\\\\s"}'))).toBe(true);
  });

  it('explains RE2 features it cannot express', () => {
    expect(() => translateRe2('(?U)a+')).toThrow(/ungreedy/);
    expect(() => translateRe2('a(?i)b')).toThrow(/only supported as a group at the start/);
    expect(() => translateRe2('\\C')).toThrow(/any byte/);
    expect(() => translateRe2('[[:^alpha:]]')).toThrow(/negated POSIX class/);
  });
});
