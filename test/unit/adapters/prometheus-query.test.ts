/**
 * HttpQueryReader over an in-memory query API (a fetch implementation, no network) that answers
 * as Prometheus 2.x (closed range selectors) or 3.x (left-open), with a sample limit (422),
 * warnings, and a record of every request.
 */
import { HttpQueryReader, type QueryReaderOptions } from '../../../lambdas/adapters/prometheus-query';
import { SourceRejectedError, SourceUnavailableError } from '../../../lambdas/core/errors';
import { matchLabels, parseSelector } from '../../../lambdas/core/prom/selector';
import { formatLabels } from '../../../lambdas/core/labels';
import type { Labels, SeriesPiece } from '../../../lambdas/core/types';

interface Stored {
  labels: Labels;
  samples: [number, string][];
}

interface FakeOptions {
  /** '2' selects [t - r, t], '3' (t - r, t]. */
  version?: '2' | '3';
  maxSamples?: number;
  warnings?: string[];
  status?: number;
  body?: string;
}

interface Request {
  path: string;
  params: URLSearchParams;
  headers: Record<string, string>;
}

function labels(record: Record<string, string>): Labels {
  return Object.entries(record)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

function fakeApi(data: Stored[], options: FakeOptions = {}) {
  const requests: Request[] = [];
  const refused: number[] = [];
  const json = (status: number, doc: unknown) =>
    new Response(JSON.stringify(doc), { status, headers: { 'content-type': 'application/json' } });
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const params = new URLSearchParams(String(init?.body ?? ''));
    requests.push({ path: url.pathname, params, headers: { ...(init?.headers as Record<string, string>) } });
    if (options.status) return new Response(options.body ?? '', { status: options.status });
    const metric = (l: Labels) => Object.fromEntries(l.map((x) => [x.name, x.value]));
    if (url.pathname.endsWith('/api/v1/metadata')) {
      return json(200, {
        status: 'success',
        data: { pv_requests_total: [{ type: 'counter', help: 'Requests \\ served.', unit: '' }] },
      });
    }
    if (url.pathname.endsWith('/api/v1/series')) {
      const m = parseSelector(params.get('match[]')!);
      return json(200, {
        status: 'success',
        data: data.filter((s) => matchLabels(s.labels, m)).map((s) => metric(s.labels)),
      });
    }
    const query = /^(.*)\[(\d+)ms\]$/.exec(params.get('query')!)!;
    const matchers = parseSelector(query[1]!);
    const t = Math.round(Number(params.get('time')) * 1000);
    const r = Number(query[2]);
    const inRange = (ts: number) => ts <= t && (options.version === '3' ? ts > t - r : ts >= t - r);
    const result = data
      .filter((s) => matchLabels(s.labels, matchers))
      .map((s) => ({
        metric: metric(s.labels),
        values: s.samples.filter(([ts]) => inRange(ts)).map(([ts, v]) => [ts / 1000, v]),
      }))
      .filter((s) => s.values.length > 0);
    const loaded = result.reduce((n, s) => n + s.values.length, 0);
    if (options.maxSamples !== undefined && loaded > options.maxSamples) {
      refused.push(loaded);
      return json(422, {
        status: 'error',
        errorType: 'execution',
        error: 'query processing would load too many samples into memory in query execution',
      });
    }
    return json(200, {
      status: 'success',
      data: { resultType: 'matrix', result },
      ...(options.warnings ? { warnings: options.warnings } : {}),
    });
  };
  return { fetchImpl, requests, refused };
}

async function readAll(reader: HttpQueryReader, window = { startMs: 0, endMs: 100_000 }, selector = '') {
  const out: SeriesPiece[] = [];
  for await (const p of reader.read(window, selector ? parseSelector(selector) : [])) out.push(p);
  return out;
}

function flatten(pieces: SeriesPiece[]): string[] {
  return pieces.flatMap((p) => [...p.timestamps].map((t, i) => `${formatLabels(p.labels)}@${t}=${p.values[i]}`));
}

const reader = (fake: ReturnType<typeof fakeApi>, options: Partial<QueryReaderOptions> = {}) =>
  new HttpQueryReader({ url: 'http://query.test:9090/prefix/', fetchImpl: fake.fetchImpl, ...options });

// Samples at the window's edges: 1 ms before, at the start, 1 ms before the end, at the end.
const edges: Stored[] = [
  {
    labels: labels({ __name__: 'edge' }),
    samples: [
      [999, '1'],
      [1000, '2'],
      [1999, '3'],
      [2000, '4'],
    ],
  },
];

describe('HttpQueryReader', () => {
  it.each(['2', '3'] as const)('reads exactly [start, end) from Prometheus %s.x range semantics', async (version) => {
    const fake = fakeApi(edges, { version });
    const pieces = await readAll(reader(fake), { startMs: 1000, endMs: 2000 });
    expect(flatten(pieces)).toEqual(['edge{}@1000=2', 'edge{}@1999=3']);
    const q = fake.requests.find((r) => r.path === '/prefix/api/v1/query')!;
    expect(q.params.get('query')).toBe('{__name__="edge"}[1000ms]');
    expect(q.params.get('time')).toBe('1.999');
  });

  it('adjacent windows hold each sample exactly once, on both range semantics', async () => {
    for (const version of ['2', '3'] as const) {
      const fake = fakeApi(edges, { version });
      const r = reader(fake);
      const all = [
        ...(await readAll(r, { startMs: 0, endMs: 1000 })),
        ...(await readAll(r, { startMs: 1000, endMs: 2000 })),
        ...(await readAll(r, { startMs: 2000, endMs: 3000 })),
      ];
      expect(flatten(all)).toEqual(['edge{}@999=1', 'edge{}@1000=2', 'edge{}@1999=3', 'edge{}@2000=4']);
    }
  });

  const many: Stored[] = Array.from({ length: 40 }, (_, i) => ({
    labels: labels({ __name__: i < 30 ? 'm' : `n${i}`, i: String(i).padStart(2, '0') }),
    samples: Array.from({ length: 100 }, (_, k): [number, string] => [k * 1000, String(i + k / 10)]),
  }));
  const expected = flatten(
    many.map((s) => ({
      labels: s.labels,
      timestamps: Float64Array.from(s.samples.map(([t]) => t)),
      values: Float64Array.from(s.samples.map(([, v]) => Number(v))),
    })),
  );

  it('a 422 "too many samples" splits series groups, then windows, until every answer fits', async () => {
    const fake = fakeApi(many, { maxSamples: 30 });
    const pieces = await readAll(reader(fake, { maxSamplesPerQuery: 1_000_000 }));
    expect(flatten(pieces)).toEqual(expected);
    expect(fake.refused.length).toBeGreaterThan(0);
  });

  it('the sample budget sizes the groups so that no answer passes it', async () => {
    const fake = fakeApi(many, { maxSamples: 250 });
    const pieces = await readAll(reader(fake, { maxSamplesPerQuery: 250 }));
    expect(flatten(pieces)).toEqual(expected);
    expect(fake.refused).toEqual([]);
  });

  it('an answer longer than the byte cap is split like a 422', async () => {
    const fake = fakeApi(many);
    const pieces = await readAll(reader(fake, { maxResponseBytes: 20_000, maxSamplesPerQuery: 1_000_000 }));
    expect(flatten(pieces)).toEqual(expected);
  });

  it('a refusal that no split can avoid fails after bounded splits, naming the limit', async () => {
    const fake = fakeApi(many, { maxSamples: 0 });
    await expect(readAll(reader(fake))).rejects.toThrow(/still too large after \d+ splits.*--query\.max-samples/);
    expect(fake.requests.length).toBeLessThan(100);
  });

  it('asks Thanos for deduplicated, complete answers and fails on warnings (a partial answer)', async () => {
    const ok = fakeApi(edges);
    await readAll(reader(ok));
    const q = ok.requests.find((r) => r.path.endsWith('/query'))!;
    expect(q.params.get('dedup')).toBe('true');
    expect(q.params.get('partial_response')).toBe('false');
    const partial = fakeApi(edges, { warnings: ['No StoreAPIs matched for this query'] });
    const err = await readAll(reader(partial)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect((err as Error).message).toMatch(/may be partial.*No StoreAPIs matched/);
  });

  it('sends the tenant header and credentials, and lets a signer sign the final request', async () => {
    const fake = fakeApi(edges);
    const signed: string[] = [];
    const r = reader(fake, {
      headers: { 'X-Scope-OrgID': 'team-a' },
      bearerToken: 'tok',
      signer: async ({ method, url, headers, body }) => {
        signed.push(`${method} ${url} ${body?.length}`);
        return { ...headers, Authorization: 'AWS4-HMAC-SHA256 test' };
      },
    });
    await readAll(r);
    expect(signed[0]).toMatch(/^POST http:\/\/query\.test:9090\/prefix\/api\/v1\/series \d+$/);
    for (const req of fake.requests) {
      expect(req.headers['X-Scope-OrgID']).toBe('team-a');
      expect(req.headers['Authorization']).toBe('AWS4-HMAC-SHA256 test');
    }
  });

  it('reads metric metadata under the base URL, with the tenant header and a signed GET', async () => {
    const fake = fakeApi(edges);
    const signed: string[] = [];
    const r = reader(fake, {
      headers: { 'X-Scope-OrgID': 'team-a' },
      signer: async ({ method, url, headers }) => {
        signed.push(`${method} ${url}`);
        return { ...headers, Authorization: 'AWS4-HMAC-SHA256 test' };
      },
    });
    expect(await r.metadata()).toEqual([
      { metricFamilyName: 'pv_requests_total', type: 'counter', help: 'Requests \\ served.', unit: '' },
    ]);
    expect(signed).toEqual(['GET http://query.test:9090/prefix/api/v1/metadata']);
    expect(fake.requests[0]!.headers['X-Scope-OrgID']).toBe('team-a');
    expect(fake.requests[0]!.headers['Authorization']).toBe('AWS4-HMAC-SHA256 test');
    // A server without the metadata API (a 404) has none: not an error.
    expect(await reader(fakeApi(edges, { status: 404 })).metadata()).toBeUndefined();
  });

  it('a 404 is refused with a hint about the base URL; a 503 is worth retrying', async () => {
    const notFound = await readAll(reader(fakeApi(edges, { status: 404, body: '404 page not found' }))).catch(
      (e: unknown) => e,
    );
    expect(notFound).toBeInstanceOf(SourceRejectedError);
    expect((notFound as Error).message).toMatch(/base URL.*\/prometheus/);
    const down = await readAll(reader(fakeApi(edges, { status: 503 }))).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(SourceUnavailableError);
  });

  it('never puts user info in its endpoint or messages', async () => {
    const fake = fakeApi(edges, { status: 500, body: 'boom' });
    const r = new HttpQueryReader({ url: 'http://user:secret@query.test/', fetchImpl: fake.fetchImpl });
    expect(r.endpoint).toBe('http://query.test');
    const err = (await readAll(r).catch((e: unknown) => e)) as Error;
    expect(err.message).not.toMatch(/secret/);
    expect(fake.requests[0]!.headers['Authorization']).toBe('Basic ' + Buffer.from('user:secret').toString('base64'));
  });
});
