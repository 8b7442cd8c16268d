import { HttpRemoteReader, type RemoteReadOptions } from '../../../lambdas/adapters/prometheus-remote-read';
import {
  SourceProbeError,
  SourceRejectedError,
  SourceUnavailableError,
  TransientError,
} from '../../../lambdas/core/errors';
import { encodeFrame } from '../../../lambdas/core/prom/frames';
import { CONTENT_TYPE_STREAMED } from '../../../lambdas/core/prom/prompb';
import {
  decodeReadRequest,
  encodeChunkedReadResponse,
  encodeReadResponse,
  type ReadRequest,
} from '../../harness/prompb-server';
import { snappyCompress, snappyUncompress } from '../../../lambdas/core/prom/snappy';
import { encodeXorChunks } from '../../../lambdas/core/prom/xor-chunk';
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../../../lambdas/core/types';
import { bitsOf, collect, concatBytes, f64, hostileBits, STALE_NAN } from '../core/prom/helpers';

const URL_ = 'http://prom.example:9090/api/v1/read';
const WINDOW: TimeWindow = { startMs: Date.UTC(2024, 0, 1), endMs: Date.UTC(2024, 0, 1, 1) };
const JOB: LabelMatcher[] = [{ type: '=', name: 'job', value: 'api' }];

interface Call {
  url: string;
  headers: Record<string, string>;
  request: ReadRequest;
  signal: AbortSignal;
}

interface BodyPlan {
  chunks: Uint8Array[];
  /** Stop sending (without ending) after this many chunks. */
  stallAfter?: number;
  onCancel?: () => void;
}

/** A body that honours the request's abort signal the way undici's does. */
function body(plan: BodyPlan, signal: AbortSignal): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (plan.stallAfter !== undefined && i >= plan.stallAfter) {
        await new Promise<void>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      }
      if (signal.aborted) throw signal.reason;
      const c = plan.chunks[i++];
      if (c === undefined) controller.close();
      else controller.enqueue(c);
    },
    cancel() {
      plan.onCancel?.();
    },
  });
}

function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

type Responder = (call: Call) => Response | Promise<Response>;

function reader(respond: Responder, calls: Call[] = [], options: Partial<RemoteReadOptions> = {}): HttpRemoteReader {
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: String(url),
      headers: init!.headers as Record<string, string>,
      request: decodeReadRequest(snappyUncompress(init!.body as Uint8Array)),
      signal: init!.signal!,
    };
    calls.push(call);
    if (call.signal.aborted) throw call.signal.reason;
    return respond(call);
  }) as typeof fetch;
  return new HttpRemoteReader({ url: URL_, fetchImpl, ...options });
}

const series: SeriesPiece[] = [
  {
    labels: [
      { name: '__name__', value: 'up' },
      { name: 'job', value: 'api' },
    ],
    // 300 samples, every 30 s from 30 min before the window: chunks straddle the window start.
    timestamps: Float64Array.from({ length: 300 }, (_, i) => WINDOW.startMs - 1_800_000 + i * 30_000),
    values: f64(hostileBits(300, 1).map((b, i) => (i % 10 === 0 ? STALE_NAN : b))),
  },
  {
    labels: [{ name: '__name__', value: 'z' }],
    timestamps: Float64Array.from([WINDOW.startMs - 1, WINDOW.startMs, WINDOW.endMs - 1, WINDOW.endMs]),
    values: f64([1n, STALE_NAN, 3n, 4n]),
  },
];

function expectedInWindow() {
  return series.map((s) => {
    const idx = [...s.timestamps.keys()].filter(
      (i) => s.timestamps[i]! >= WINDOW.startMs && s.timestamps[i]! < WINDOW.endMs,
    );
    return {
      labels: s.labels,
      timestamps: idx.map((i) => s.timestamps[i]!),
      bits: idx.map((i) => bitsOf(s.values)[i]!),
    };
  });
}

function streamedBody(): Uint8Array {
  return concatBytes(
    series.flatMap((s) => {
      const chunks = encodeXorChunks(s.timestamps, s.values).map((c) => ({ ...c, type: 1 }));
      // Two frames per series when it has several chunks, as Prometheus splits big series.
      const parts = chunks.length > 1 ? [chunks.slice(0, 1), chunks.slice(1)] : [chunks];
      return parts.map((p) =>
        encodeFrame(encodeChunkedReadResponse({ queryIndex: 0, series: [{ labels: s.labels, chunks: p }] })),
      );
    }),
  );
}

function merged(pieces: SeriesPiece[]) {
  const out: { labels: SeriesPiece['labels']; timestamps: number[]; bits: bigint[] }[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && JSON.stringify(last.labels) === JSON.stringify(p.labels)) {
      last.timestamps.push(...p.timestamps);
      last.bits.push(...bitsOf(p.values));
    } else out.push({ labels: p.labels, timestamps: [...p.timestamps], bits: bitsOf(p.values) });
  }
  return out;
}

const streamed: Responder = (call) =>
  new Response(body({ chunks: split(streamedBody(), 5) }, call.signal), {
    headers: { 'Content-Type': CONTENT_TYPE_STREAMED },
  });

const samples: Responder = (call) =>
  new Response(body({ chunks: [snappyCompress(encodeReadResponse([series]))] }, call.signal), {
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
  });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('HttpRemoteReader', () => {
  it('sends one snappy ReadRequest for [start, end - 1] preferring streamed chunks, with the protocol headers', async () => {
    const calls: Call[] = [];
    await collect(
      reader(streamed, calls, {
        bearerToken: 's3cret',
        headers: { 'X-Scope-OrgID': 'tenant' },
      }).read(WINDOW, JOB),
    );
    expect(calls).toHaveLength(1);
    const { url, headers, request } = calls[0]!;
    expect(url).toBe(URL_);
    expect(headers['Content-Encoding']).toBe('snappy');
    expect(headers['Content-Type']).toBe('application/x-protobuf');
    expect(headers['X-Prometheus-Remote-Read-Version']).toBe('0.1.0');
    expect(headers['User-Agent']).toMatch(/^promvault\/\d/);
    expect(headers['Authorization']).toBe('Bearer s3cret');
    expect(headers['X-Scope-OrgID']).toBe('tenant');
    expect(request).toEqual({
      queries: [{ startTimestampMs: WINDOW.startMs, endTimestampMs: WINDOW.endMs - 1, matchers: JOB }],
      acceptedResponseTypes: [1, 0],
    });
  });

  it('selects every series when given no matchers', async () => {
    const calls: Call[] = [];
    await collect(reader(streamed, calls).read(WINDOW, []));
    expect(calls[0]!.request.queries[0]!.matchers).toEqual([{ type: '=~', name: '__name__', value: '.+' }]);
  });

  it('decodes a streamed answer arriving in 5-byte pieces, trimmed to the window, bit for bit', async () => {
    let done: unknown;
    const r = reader(streamed, [], { onReadDone: (info) => (done = info) });
    const pieces = await collect(r.read(WINDOW, JOB));
    expect(merged(pieces)).toEqual(expectedInWindow());
    expect(done).toMatchObject({ responseType: 'streamed', stats: { samples: 122, frames: 3 } });
  });

  it('decodes a SAMPLES answer, and asks only for it in samples mode', async () => {
    const calls: Call[] = [];
    const r = reader(samples, calls);
    expect(merged(await collect(r.read(WINDOW, JOB)))).toEqual(expectedInWindow());
    expect(merged(await collect(r.readSamplesMode(WINDOW, JOB)))).toEqual(expectedInWindow());
    expect(merged(await collect(reader(samples, calls, { mode: 'samples' }).read(WINDOW, JOB)))).toEqual(
      expectedInWindow(),
    );
    expect(calls.map((c) => c.request.acceptedResponseTypes)).toEqual([[1, 0], [0], [0]]);
  });

  it('answered 401 or 403, refreshes the credentials once and retries the request once', async () => {
    for (const status of [401, 403]) {
      const calls: Call[] = [];
      let refreshes = 0;
      const r = reader(
        (call) =>
          call.headers['Authorization'] === 'Bearer new-token' ? streamed(call) : new Response('', { status }),
        calls,
        {
          bearerToken: 'old-token',
          headers: { 'X-Scope-OrgID': 'tenant' },
          refreshCredentials: async () => (refreshes++, { bearerToken: 'new-token' }),
        },
      );
      expect((await collect(r.read(WINDOW, JOB))).length).toBeGreaterThan(0);
      expect(calls.map((c) => c.headers['Authorization'])).toEqual(['Bearer old-token', 'Bearer new-token']);
      expect(calls[1]!.headers['X-Scope-OrgID']).toBe('tenant');
      expect(refreshes).toBe(1);
    }
  });

  it('credentials still refused after the refresh fail with the credentials hint, after one retry', async () => {
    const calls: Call[] = [];
    const r = reader(() => new Response('', { status: 401 }), calls, {
      bearerToken: 'old-token',
      refreshCredentials: async () => ({ bearerToken: 'old-token' }),
    });
    const err = await failure(collect(r.read(WINDOW, JOB)));
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).toMatch(/Check the credentials/);
    expect(calls).toHaveLength(2);
  });

  it('uses credentials from the URL as basic auth and never shows them', async () => {
    const calls: Call[] = [];
    const r = reader(() => new Response('bad auth for user', { status: 401 }), calls, {
      url: 'https://alice:pa%24%24word@prom.example/api/v1/read?token=abc',
    });
    expect(r.endpoint).toBe('https://prom.example/api/v1/read?…');
    const err = await failure(collect(r.read(WINDOW, JOB)));
    expect(calls[0]!.url).toBe('https://prom.example/api/v1/read?token=abc');
    expect(calls[0]!.headers['Authorization']).toBe(`Basic ${Buffer.from('alice:pa$$word').toString('base64')}`);
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).not.toMatch(/pa\$\$word|pa%24%24word|abc|alice/);
    expect(err.message).toMatch(/Check the credentials/);
  });

  it.each([
    [503, 'service unavailable', SourceUnavailableError],
    [500, 'query failed: disk I/O error', SourceUnavailableError],
    [429, 'too many requests', SourceUnavailableError],
    [400, 'exceeded sample limit (50000000)', SourceRejectedError],
    [404, '404 page not found', SourceRejectedError],
    [403, 'forbidden', SourceRejectedError],
  ])('turns HTTP %i into the right error, naming endpoint, window and server message', async (status, text, type) => {
    const err = await failure(collect(reader(() => new Response(text, { status })).read(WINDOW, JOB)));
    expect(err).toBeInstanceOf(type);
    expect(err.message).toContain(
      `remote read from ${URL_} for [2024-01-01T00:00:00Z, 2024-01-01T01:00:00Z) failed: HTTP ${status}`,
    );
    expect(err.message).toContain(JSON.stringify(text));
    if (status === 400) expect(err.message).toMatch(/shorter shards/);
    if (status === 404) expect(err.message).toMatch(/does not serve remote read.*try --source-mode query/);
  });

  it('a server without remote read (VictoriaMetrics: 400 unsupported path) is told to try query mode', async () => {
    const body = 'unsupported path requested: "/api/v1/read"';
    const err = await failure(collect(reader(() => new Response(body, { status: 400 })).read(WINDOW, JOB)));
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).toMatch(/try --source-mode query \(in cdk\.json, "mode": "query"/);
  });

  it('quotes at most 300 characters of an error body', async () => {
    const err = await failure(collect(reader(() => new Response('x'.repeat(5000), { status: 500 })).read(WINDOW, JOB)));
    expect(err.message).toContain(`"${'x'.repeat(300)}…"`);
    expect(err.message).not.toContain('x'.repeat(301));
  });

  it('reports a refused connection as transient', async () => {
    const refuse = () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9090'), { code: 'ECONNREFUSED' }),
      });
    };
    const err = await failure(collect(reader(refuse).read(WINDOW, JOB)));
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).toMatch(/failed: connect ECONNREFUSED 127.0.0.1:9090$/);
  });

  it('times out waiting for headers and when the body stalls, but not while the consumer is slow', async () => {
    const hang: Responder = (call) =>
      new Promise<Response>((_, reject) => call.signal.addEventListener('abort', () => reject(call.signal.reason)));
    const err = await failure(collect(reader(hang, [], { timeoutMs: 50 }).read(WINDOW, JOB)));
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).toMatch(/timed out: no data for 50 ms/);
    expect(err.message).toMatch(/^remote read from \S+ for \[\S+, \S+\) timed out: .*; to wait longer: --timeout$/);

    const stall: Responder = (call) =>
      new Response(body({ chunks: split(streamedBody(), 100), stallAfter: 3 }, call.signal), {
        headers: { 'Content-Type': CONTENT_TYPE_STREAMED },
      });
    const err2 = await failure(collect(reader(stall, [], { timeoutMs: 50 }).read(WINDOW, JOB)));
    expect(err2).toBeInstanceOf(SourceUnavailableError);
    expect(err2.message).toMatch(/timed out/);

    const slow = reader(streamed, [], { timeoutMs: 30 });
    const pieces: SeriesPiece[] = [];
    for await (const p of slow.read(WINDOW, JOB)) {
      pieces.push(p);
      await new Promise((r) => setTimeout(r, 80));
    }
    expect(merged(pieces)).toEqual(expectedInWindow());
  });

  it('reports a damaged stream as transient and an undecodable one as rejected', async () => {
    const damaged = streamedBody().slice();
    damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 1;
    const err = await failure(
      collect(
        reader(
          (call) =>
            new Response(body({ chunks: [damaged] }, call.signal), {
              headers: { 'Content-Type': CONTENT_TYPE_STREAMED },
            }),
        ).read(WINDOW, JOB),
      ),
    );
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/corrupt remote-read stream: frame at body offset \d+ .* has CRC32C/);

    const garbage = encodeFrame(Uint8Array.from([0x0a, 0x7f, 0x01]));
    const err2 = await failure(
      collect(
        reader(
          (call) =>
            new Response(body({ chunks: [garbage] }, call.signal), {
              headers: { 'Content-Type': CONTENT_TYPE_STREAMED },
            }),
        ).read(WINDOW, JOB),
      ),
    );
    expect(err2).toBeInstanceOf(SourceRejectedError);
    expect(err2.message).toMatch(/the answer does not decode: malformed ChunkedReadResponse/);

    const html = await failure(
      collect(
        reader(() => new Response('<html>login</html>', { headers: { 'Content-Type': 'text/html' } })).read(
          WINDOW,
          JOB,
        ),
      ),
    );
    expect(html).toBeInstanceOf(SourceRejectedError);
    expect(html.message).toMatch(/the answer is text\/html, not remote-read protobuf: "<html>login<\/html>"/);
  });

  it("ends with the caller's abort reason and cancels the body when the consumer stops early", async () => {
    const controller = new AbortController();
    const err = await failure(
      (async () => {
        for await (const _ of reader(streamed).read(WINDOW, JOB, { signal: controller.signal })) {
          controller.abort(new Error('user cancelled'));
        }
      })(),
    );
    expect(err.message).toBe('user cancelled');

    let cancelled = false;
    let signal: AbortSignal | undefined;
    const r = reader((call) => {
      signal = call.signal;
      return new Response(body({ chunks: split(streamedBody(), 7), onCancel: () => (cancelled = true) }, call.signal), {
        headers: { 'Content-Type': CONTENT_TYPE_STREAMED },
      });
    });
    for await (const _ of r.read(WINDOW, JOB)) break;
    expect(cancelled || signal!.aborted).toBe(true);
  });

  it('skips an empty window without asking', async () => {
    const calls: Call[] = [];
    expect(await collect(reader(streamed, calls).read({ startMs: 5, endMs: 5 }, JOB))).toEqual([]);
    expect(calls).toEqual([]);
  });

  describe('probe', () => {
    it('passes when the endpoint answers a remote read', async () => {
      const calls: Call[] = [];
      await reader(
        () =>
          new Response(snappyCompress(encodeReadResponse([[]])), {
            headers: { 'Content-Type': 'application/x-protobuf' },
          }),
        calls,
      ).probe();
      expect(calls[0]!.request.acceptedResponseTypes).toEqual([0]);
    });

    it('says what to check when the endpoint cannot be reached or refuses', async () => {
      const refuse = () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND prom.example'), { code: 'ENOTFOUND' }),
        });
      };
      const err = await failure(reader(refuse).probe());
      expect(err).toBeInstanceOf(SourceUnavailableError);
      expect(err.message).toBe(
        `cannot reach Prometheus at ${URL_}: getaddrinfo ENOTFOUND prom.example. Check --source (the Prometheus base URL, e.g. http://prometheus:9090) and that it is reachable from here.`,
      );
      const err2 = await failure(reader(() => new Response('unauthorized', { status: 401 })).probe());
      expect(err2).toBeInstanceOf(SourceRejectedError);
      expect(err2.message).toMatch(new RegExp(`^Prometheus at ${URL_} refused a remote read: HTTP 401`));
    });

    it('names the flag the URL came from (--against), and ends each sentence with one period', async () => {
      const against = { flag: '--against', auth: '$PROMVAULT_BASIC_AUTH or $PROMVAULT_BEARER_TOKEN' };
      const down = await failure(reader(() => new Response('boom.', { status: 503 }), [], { input: against }).probe());
      expect(down).toBeInstanceOf(SourceUnavailableError);
      expect(down.message).toMatch(/Check --against \(the Prometheus base URL/);
      expect(down.message).not.toContain('--source');
      const notFound = await failure(
        reader(() => new Response('404 page not found', { status: 404 }), [], { input: against }).probe(),
      );
      expect(notFound).toBeInstanceOf(SourceProbeError);
      expect(notFound.message).toBe(
        `Prometheus at ${URL_} refused a remote read: HTTP 404: "404 page not found". The URL does not serve remote read: --against must point at Prometheus (the path /api/v1/read is added), e.g. http://prometheus:9090.`,
      );
      const html = await failure(
        reader(() => new Response('<html/>', { status: 200, headers: { 'Content-Type': 'text/html' } })).probe(),
      );
      expect(html.message).toMatch(/"<html\/>"\. Check that --source points at Prometheus\.$/);
      for (const err of [down, notFound, html]) expect(err.message).not.toMatch(/\.\./);
    });
  });
});

describe('HttpRemoteReader and HA replicas', () => {
  it('yields a SAMPLES answer in label-set order, as Prometheus streams series (the replica merge needs it)', async () => {
    const unsorted = [series[1]!, series[0]!];
    const r = reader(
      (call) =>
        new Response(body({ chunks: [snappyCompress(encodeReadResponse([unsorted]))] }, call.signal), {
          headers: { 'Content-Type': 'application/x-protobuf' },
        }),
      [],
      { mode: 'samples' },
    );
    expect(merged(await collect(r.read(WINDOW, JOB))).map((s) => s.labels)).toEqual(series.map((s) => s.labels));
  });

  const metricsReader = (text: string | Error, status = 200, seen: { url?: string; auth?: string } = {}) =>
    new HttpRemoteReader({
      url: 'http://user:pw@prom.example:9090/prefix/api/v1/read',
      fetchImpl: (async (url: string | URL, init?: RequestInit) => {
        seen.url = String(url);
        seen.auth = (init!.headers as Record<string, string>)['Authorization'];
        if (text instanceof Error) throw text;
        return new Response(text, { status });
      }) as typeof fetch,
    });

  it('reads the oldest retained sample from prometheus_tsdb_lowest_timestamp at /metrics, with the same auth', async () => {
    const seen: { url?: string; auth?: string } = {};
    const text = '# TYPE prometheus_tsdb_lowest_timestamp gauge\nprometheus_tsdb_lowest_timestamp 1.7e+12\n';
    await expect(metricsReader(text, 200, seen).oldestTimestamp()).resolves.toBe(1.7e12);
    expect(seen).toEqual({ url: 'http://prom.example:9090/prefix/metrics', auth: `Basic ${btoa('user:pw')}` });
    const empty = 'prometheus_tsdb_lowest_timestamp 9.223372036854776e+18\n';
    await expect(metricsReader(empty).oldestTimestamp()).resolves.toBe(9.223372036854776e18);
    await expect(metricsReader('prometheus_tsdb_lowest_timestamp_seconds 1.7e+09\n').oldestTimestamp()).resolves.toBe(
      1.7e12,
    );
  });

  it('says "unknown" when the server does not expose the gauge, and "unavailable" when it cannot be reached', async () => {
    await expect(metricsReader('up 1\n').oldestTimestamp()).resolves.toBeUndefined();
    await expect(metricsReader('not found', 404).oldestTimestamp()).resolves.toBeUndefined();
    const err = await failure(metricsReader(new TypeError('fetch failed')).oldestTimestamp());
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).not.toContain('pw');
  });
});

describe('HttpRemoteReader with a request signer (SigV4)', () => {
  it('signs the ReadRequest body as sent, and says what to check on 403', async () => {
    const calls: Call[] = [];
    const bodies: Uint8Array[] = [];
    const r = reader(streamed, calls, {
      signer: async (request) => {
        bodies.push(request.body as Uint8Array);
        return { ...request.headers, authorization: 'AWS4-HMAC-SHA256 test' };
      },
    });
    expect(merged(await collect(r.read(WINDOW, JOB)))).toEqual(expectedInWindow());
    expect(calls[0]!.headers.authorization).toBe('AWS4-HMAC-SHA256 test');
    expect(decodeReadRequest(snappyUncompress(bodies[0]!))).toEqual(calls[0]!.request);
    const refused = reader(() => new Response('denied', { status: 403 }), [], {
      signer: async (request) => ({ ...request.headers }),
    });
    const err = await failure(collect(refused.read(WINDOW, JOB)));
    expect(err.message).toMatch(/HTTP 403.*signed with SigV4: check the AWS credentials.*aps:QueryMetrics/);
  });
});
