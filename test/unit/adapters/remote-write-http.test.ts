import { HttpRemoteWriter } from '../../../lambdas/adapters/remote-write-http';
import { decodeWriteRequest } from '../../harness/prompb-server';
import { snappyUncompress } from '../../../lambdas/core/prom/snappy';
import {
  TargetProbeError,
  TargetRejectedDataError,
  TargetRejectedError,
  TargetUnavailableError,
} from '../../../lambdas/core/errors';
import type { SeriesPiece } from '../../../lambdas/core/types';
import type { RequestSigner, SignableRequest } from '../../../lambdas/adapters/http-auth';

const STALE_BITS = 0x7ff0000000000002n;

/** Values given as raw bits: a number[] would quiet the staleness NaN. */
function piece(name: string, ts: number[], bits: bigint[]): SeriesPiece {
  const v = new Float64Array(new BigUint64Array(bits).buffer);
  return {
    labels: [
      { name: '__name__', value: name },
      { name: 'job', value: 'api' },
    ],
    timestamps: Float64Array.from(ts),
    values: v,
  };
}

interface Call {
  headers: Record<string, string>;
  body: Uint8Array;
}

function fakeFetch(responses: Array<() => Response>, calls: Call[]): typeof fetch {
  let i = 0;
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    calls.push({ headers: init!.headers as Record<string, string>, body: init!.body as Uint8Array });
    const make = responses[Math.min(i++, responses.length - 1)]!;
    return make();
  }) as typeof fetch;
}

const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

describe('HttpRemoteWriter', () => {
  it('sends a snappy WriteRequest with the remote-write 1.0 headers, values bit-exact', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://target/api/v1/write',
      headers: { 'X-Scope-OrgID': 'tenant-1' },
      fetchImpl: fakeFetch([() => new Response(null, { status: 204 })], calls),
    });
    const p = piece('up', [1000, 2000], [0x3ff0000000000000n, STALE_BITS]);
    await writer.write({ series: [p], samples: 2 });
    const h = calls[0]!.headers;
    expect(h['Content-Encoding']).toBe('snappy');
    expect(h['Content-Type']).toBe('application/x-protobuf');
    expect(h['X-Prometheus-Remote-Write-Version']).toBe('0.1.0');
    expect(h['User-Agent']).toMatch(/^promvault\//);
    expect(h['X-Scope-OrgID']).toBe('tenant-1');
    const [decoded] = decodeWriteRequest(snappyUncompress(calls[0]!.body));
    expect(decoded!.labels).toEqual(p.labels);
    expect(Array.from(decoded!.timestamps)).toEqual([1000, 2000]);
    expect(Array.from(new BigUint64Array(decoded!.values.buffer, decoded!.values.byteOffset, 2))).toEqual([
      0x3ff0000000000000n,
      0x7ff0000000000002n,
    ]);
  });

  it('retries 500 twice then succeeds, sending the same body', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://target/api/v1/write',
      retry: fast,
      fetchImpl: fakeFetch(
        [
          () => new Response('boom', { status: 500 }),
          () => new Response('boom', { status: 500 }),
          () => new Response(null, { status: 204 }),
        ],
        calls,
      ),
    });
    await writer.write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 });
    expect(calls).toHaveLength(3);
    expect(Buffer.from(calls[2]!.body).equals(Buffer.from(calls[0]!.body))).toBe(true);
  });

  it('honours Retry-After on 429', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2000 },
      fetchImpl: fakeFetch(
        [
          () => new Response('slow down', { status: 429, headers: { 'Retry-After': '0.2' } }),
          () => new Response(null, { status: 204 }),
        ],
        calls,
      ),
    });
    const started = Date.now();
    await writer.write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('stops at once on "too old sample" and names the setting to change', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      fetchImpl: fakeFetch([() => new Response('too old sample', { status: 500 })], calls),
    });
    const err = await writer
      .write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect(calls).toHaveLength(1);
    expect((err as Error).message).toMatch(/out_of_order_time_window/);
    expect((err as Error).message).toMatch(/up\{job="api"\}/);
    expect((err as Error).message).toMatch(/http:\/\/t\/api\/v1\/write/);
  });

  it('prepares a batch into its body alone, and still names its first series when rejected', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      fetchImpl: fakeFetch([() => new Response('out of order sample', { status: 400 })], calls),
    });
    const first = piece('up', [1, 2], [0x3ff0000000000000n, STALE_BITS]);
    const prepared = writer.prepare({ series: [first, piece('down', [1], [0n])], samples: 3 });
    // A queued request holds its body, not the decoded samples behind it.
    expect(prepared.series).toHaveLength(0);
    expect(prepared.samples).toBe(3);
    expect(decodeWriteRequest(snappyUncompress(prepared.body!)).map((s) => s.timestamps.length)).toEqual([2, 1]);
    const err = await writer.write(prepared).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect(calls[0]!.body).toBe(prepared.body);
    expect((err as Error).message).toMatch(/first series in the request: up\{job="api"\}, 3 samples/);
  });

  it('does not retry 400 out of bounds', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      fetchImpl: fakeFetch([() => new Response('out of bounds', { status: 400 })], calls),
    });
    await expect(writer.write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })).rejects.toThrow(
      /out_of_order_time_window/,
    );
    expect(calls).toHaveLength(1);
  });

  it('gives up after the configured attempts on a target that stays down', async () => {
    const calls: Call[] = [];
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
    });
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      fetchImpl: (async (_u: unknown, init?: RequestInit) => {
        calls.push({ headers: init!.headers as Record<string, string>, body: init!.body as Uint8Array });
        throw refused;
      }) as typeof fetch,
    });
    const err = await writer
      .write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetUnavailableError);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(calls).toHaveLength(4);
  });

  it('a target that does not answer in time: the error names the endpoint, the timeout and --target-timeout', async () => {
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      timeoutMs: 20,
      // Never answers; gives up when the request's deadline aborts it, as fetch does.
      fetchImpl: ((_u: unknown, init?: RequestInit) =>
        new Promise((_, reject) =>
          init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)),
        )) as typeof fetch,
    });
    const err = await writer
      .write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetUnavailableError);
    expect((err as Error).message).toMatch(/^remote write to http:\/\/t\/api\/v1\/write failed 4 times, last: /);
    expect((err as Error).message).toMatch(/\(to wait longer: --target-timeout\)/);
  });

  it('fails a 2xx answered with an HTML page: the samples were not stored', async () => {
    const calls: Call[] = [];
    const writer = new HttpRemoteWriter({
      url: 'http://t/',
      retry: fast,
      fetchImpl: fakeFetch(
        [
          () =>
            new Response('<!doctype html><title>Home</title>', {
              status: 200,
              headers: { 'Content-Type': 'text/html' },
            }),
        ],
        calls,
      ),
    });
    const err = await writer
      .write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect((err as Error).message).toMatch(/HTTP 200 with an HTML page/);
    expect(calls).toHaveLength(1);
  });

  it('tells a rejection of the data (splittable) from one of the request', async () => {
    const reject = async (status: number, body: string) =>
      new HttpRemoteWriter({
        url: 'http://t/api/v1/write',
        retry: fast,
        fetchImpl: fakeFetch([() => new Response(body, { status })], []),
      })
        .write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 })
        .catch((e: unknown) => e);
    const inf = await reject(400, '{"error":"+/-Inf is an unsupported value for field value"}');
    expect(inf).toBeInstanceOf(TargetRejectedDataError);
    expect((inf as TargetRejectedError).body).toMatch(/unsupported value/);
    expect(await reject(400, 'duplicate sample for timestamp')).toBeInstanceOf(TargetRejectedDataError);
    for (const [status, body] of [
      [400, 'out of bounds'],
      [400, 'too old sample'],
      [401, 'unauthorized'],
      [404, 'not found'],
      [413, 'too large'],
    ] as const) {
      const err = await reject(status, body);
      expect(err).toBeInstanceOf(TargetRejectedError);
      expect(err).not.toBeInstanceOf(TargetRejectedDataError);
    }
  });

  describe('probe', () => {
    const probe = (responses: Array<() => Response>, calls: Call[] = []) =>
      new HttpRemoteWriter({
        url: 'http://t/api/v1/write',
        retry: fast,
        fetchImpl: fakeFetch(responses, calls),
      }).probe();

    it('sends one empty WriteRequest with the remote-write headers and passes an empty 204', async () => {
      const calls: Call[] = [];
      await probe([() => new Response(null, { status: 204 })], calls);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.headers['Content-Encoding']).toBe('snappy');
      expect(decodeWriteRequest(snappyUncompress(calls[0]!.body))).toEqual([]);
    });

    it('refuses an HTML 200, a 404 and a 401 as bad input, saying nothing was written', async () => {
      const html = () => new Response('<html></html>', { status: 200, headers: { 'Content-Type': 'text/html' } });
      for (const make of [
        html,
        () => new Response('404 page not found', { status: 404 }),
        () => new Response('', { status: 401 }),
      ]) {
        const err = await probe([make]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TargetProbeError);
        expect((err as Error).message).toMatch(/Nothing was written. Fix: /);
      }
    });

    it('waits through 503s, and gives up on a target that stays down', async () => {
      const calls: Call[] = [];
      await probe([() => new Response('starting', { status: 503 }), () => new Response(null, { status: 204 })], calls);
      expect(calls).toHaveLength(2);
      await expect(probe([() => new Response('down', { status: 503 })])).rejects.toBeInstanceOf(TargetUnavailableError);
    });
  });
});

describe('HttpRemoteWriter with a request signer (SigV4)', () => {
  it('signs every attempt over the body as sent and sends what the signer returns', async () => {
    const calls: Call[] = [];
    const signed: SignableRequest[] = [];
    const signer: RequestSigner = async (request) => {
      signed.push(request);
      return { ...request.headers, authorization: `signed-${signed.length}`, 'x-amz-date': '20261203T000000Z' };
    };
    const writer = new HttpRemoteWriter({
      url: 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write',
      retry: fast,
      signer,
      fetchImpl: fakeFetch(
        [() => new Response('boom', { status: 503 }), () => new Response(null, { status: 200 })],
        calls,
      ),
    });
    await writer.write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 });
    expect(calls.map((c) => c.headers.authorization)).toEqual(['signed-1', 'signed-2']);
    expect(signed.map((r) => [r.method, r.url])).toEqual([
      ['POST', 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write'],
      ['POST', 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write'],
    ]);
    expect(Buffer.from(signed[1]!.body as Uint8Array).equals(Buffer.from(calls[1]!.body))).toBe(true);
    expect(signed[0]!.headers['Content-Encoding']).toBe('snappy');
  });

  it('names the signature as the thing to check when the target refuses it', async () => {
    const writer = new HttpRemoteWriter({
      url: 'http://t/api/v1/write',
      retry: fast,
      signer: async (r) => ({ ...r.headers, authorization: 'x' }),
      fetchImpl: fakeFetch([() => new Response('denied', { status: 403 })], []),
    });
    const err = await writer.write({ series: [piece('up', [1], [0x3ff0000000000000n])], samples: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect((err as Error).message).toMatch(/refused the signed request: check the AWS credentials.*aps:RemoteWrite/);
  });

  it('refuses a signer together with basic auth or a bearer token', () => {
    const signer: RequestSigner = async (r) => ({ ...r.headers });
    expect(() => new HttpRemoteWriter({ url: 'http://u:p@t/api/v1/write', signer })).toThrow(
      /both SigV4 signing and basic auth/,
    );
    expect(() => new HttpRemoteWriter({ url: 'http://t/api/v1/write', signer, bearerToken: 'tok-1' })).toThrow(
      /both SigV4 signing and a bearer token/,
    );
  });
});
