/**
 * Our regex matchers against a real Prometheus: series with awkward label values (a newline,
 * dots, case) are remote-written, then for each matcher the series Prometheus selects
 * (/api/v1/series) must be the ones matchLabels selects.
 *
 * promvault follows Prometheus 3, which compiles a matcher as ^(?s:re)$ ('.' matches a newline;
 * the 3.0 migration guide: "the . pattern in regular expressions in PromQL matches newline
 * characters now"). Prometheus 2 compiled ^(?:re)$. Against a 2.x server (Debian's 2.42 here)
 * each pattern is sent wrapped in (?s:...), which makes the 2.x server apply Prometheus 3's
 * semantics; against 3.x it is sent as is.
 */
import { formatSelector, matchLabels } from '../../lambdas/core/prom/selector';
import type { Label, LabelMatcher, SeriesPiece } from '../../lambdas/core/types';
import { stopAllProcesses } from '../harness/ports';
import { prometheusApi, startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { remoteWrite } from '../harness/remote-write-client';

const METRIC = 'pv_selector_check';
/** Values of the `path` label; undefined: the series has no such label. */
const PATHS = ['ab', 'abc', 'xab', 'a.b', 'axb', 'a\nb', 'a\n', '\nb', 'A.B', 'AXB', 'é\nü', undefined] as const;

function labelsOf(path: string | undefined): Label[] {
  const labels: Label[] = [{ name: '__name__', value: METRIC }];
  if (path !== undefined) labels.push({ name: 'path', value: path });
  return labels;
}

/** Which PATHS a `path` matcher selects, as our matcher decides. */
function ours(m: LabelMatcher): (string | undefined)[] {
  return PATHS.filter((p) => matchLabels(labelsOf(p), [{ type: '=', name: '__name__', value: METRIC }, m]));
}

let prom: PrometheusServer;
let major: number;
const nowMs = Date.now();

/** Which PATHS a `path` matcher selects, as Prometheus (with 3.x semantics) decides. */
async function theirs(m: LabelMatcher): Promise<(string | undefined)[]> {
  const value = major < 3 ? `(?s:${m.value})` : m.value;
  const selector = `${METRIC}${formatSelector([{ ...m, value }])}`;
  const series = await prometheusApi<Record<string, string>[]>(prom, 'series', {
    'match[]': selector,
    start: String((nowMs - 60_000) / 1000),
    end: String((nowMs + 60_000) / 1000),
  });
  const selected = new Set(series.map((s) => s.path));
  return PATHS.filter((p) => selected.has(p));
}

beforeAll(async () => {
  prom = await startPrometheus();
  const build = await prometheusApi<{ version: string }>(prom, 'status/buildinfo');
  major = Number(build.version.split('.')[0]);
  const series: SeriesPiece[] = PATHS.map((p) => ({
    labels: labelsOf(p),
    timestamps: Float64Array.of(nowMs),
    values: Float64Array.of(1),
  }));
  expect(await remoteWrite(prom.remoteWriteUrl, series)).toMatchObject({ status: 204 });
});

afterAll(async () => {
  await prom?.stop();
  await stopAllProcesses();
});

describe('regex matchers, cross-checked against Prometheus', () => {
  test("'.' matches a newline, as Prometheus 3 documents", async () => {
    const dot: LabelMatcher = { type: '=~', name: 'path', value: 'a.b' };
    expect(ours(dot)).toEqual(['a.b', 'axb', 'a\nb']);
    expect(ours({ type: '=~', name: 'path', value: 'a.*' })).toEqual(['ab', 'abc', 'a.b', 'axb', 'a\nb', 'a\n']);
    expect(ours({ type: '!~', name: 'path', value: '.+' })).toEqual([undefined]);
    if (major >= 3) {
      expect(await theirs({ ...dot, value: dot.value })).toEqual(ours(dot));
    } else {
      // A 2.x server still has the old semantics: the difference this change is about.
      const series = await prometheusApi<Record<string, string>[]>(prom, 'series', {
        'match[]': `${METRIC}{path=~"a.b"}`,
        start: String((nowMs - 60_000) / 1000),
      });
      expect(series.map((s) => s.path).sort()).toEqual(['a.b', 'axb']);
    }
  });

  test.each<[string, LabelMatcher['type'], string]>([
    ['dot, across a newline', '=~', 'a.b'],
    ['dot-star', '=~', 'a.*'],
    ['dot-star before a suffix', '=~', '.*b'],
    ['an escaped dot', '=~', 'a\\.b'],
    ['an escaped newline', '=~', 'a\\nb'],
    ['anchoring: no substring match', '=~', 'b'],
    ['anchoring: no prefix match', '=~', 'ab'],
    ['alternation', '=~', 'ab|abc'],
    ['alternation inside a group', '=~', 'a(b|bc)'],
    ['case-insensitive flag', '=~', '(?i)a.b'],
    ['case-insensitive, escaped dot', '=~', '(?i)A\\.B'],
    ['case matters without the flag', '=~', 'A.*'],
    ['the empty pattern (matches a missing label)', '=~', ''],
    ['one or more of anything', '=~', '.+'],
    ['a negated class', '=~', 'a[^.]b'],
    ['unicode and a newline', '=~', '\\p{L}.\\p{L}'],
    ['negated dot', '!~', 'a.b'],
    ['negated alternation', '!~', 'ab|a.*'],
  ])('%s: %s %j selects what Prometheus selects', async (_what, type, value) => {
    const m: LabelMatcher = { type, name: 'path', value };
    expect(ours(m)).toEqual(await theirs(m));
  });
});
