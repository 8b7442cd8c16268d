import { SourceRejectedError, SourceUnavailableError } from '../../../lambdas/core/errors';
import { fetchPrometheusMetadata, metadataUrlBesideRead } from '../../../lambdas/adapters/prometheus-metadata';
import { HttpRemoteReader } from '../../../lambdas/adapters/prometheus-remote-read';
import { replicaMetadata } from '../../../lambdas/core/backup/replica-metadata';
import type { PrometheusReader } from '../../../lambdas/core/ports';

const answer = (status: number, body: string): typeof fetch =>
  (async () => new Response(body, { status, headers: { 'content-type': 'application/json' } })) as typeof fetch;

const request = (fetchImpl: typeof fetch) =>
  fetchPrometheusMetadata({
    url: new URL('http://p:9090/api/v1/metadata'),
    endpoint: 'http://p:9090/api/v1/metadata',
    headers: {},
    timeoutMs: 1000,
    fetchImpl,
  });

describe('fetchPrometheusMetadata', () => {
  test('every entry of every family, an unknown type kept as unknown, missing unit as empty', async () => {
    const body = JSON.stringify({
      status: 'success',
      data: {
        up: [{ type: 'gauge', help: 'Up.', unit: '' }],
        http_requests: [
          { type: 'counter', help: 'A', unit: '' },
          { type: 'counter', help: 'B', unit: 'requests' },
        ],
        odd: [{ type: 'futuristic', help: 'x' }],
      },
    });
    expect(await request(answer(200, body))).toEqual([
      { metricFamilyName: 'up', type: 'gauge', help: 'Up.', unit: '' },
      { metricFamilyName: 'http_requests', type: 'counter', help: 'A', unit: '' },
      { metricFamilyName: 'http_requests', type: 'counter', help: 'B', unit: 'requests' },
      { metricFamilyName: 'odd', type: 'unknown', help: 'x', unit: '' },
    ]);
  });

  test('404 and 405: the server has no metadata API', async () => {
    expect(await request(answer(404, 'not found'))).toBeUndefined();
    expect(await request(answer(405, ''))).toBeUndefined();
  });

  test('5xx and 429 are worth retrying, other 4xx and non-API answers are not; messages name the endpoint', async () => {
    await expect(request(answer(503, 'overloaded'))).rejects.toThrow(SourceUnavailableError);
    await expect(request(answer(429, ''))).rejects.toThrow(
      /metadata from http:\/\/p:9090\/api\/v1\/metadata failed: HTTP 429/,
    );
    await expect(request(answer(401, 'no'))).rejects.toThrow(SourceRejectedError);
    await expect(request(answer(200, '<html>'))).rejects.toThrow(/not the Prometheus API's metadata JSON/);
    await expect(request(answer(200, '{"status":"error"}'))).rejects.toThrow(SourceRejectedError);
    const refused = (async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } });
    }) as typeof fetch;
    await expect(request(refused)).rejects.toThrow(SourceUnavailableError);
  });

  test('the metadata URL sits beside /api/v1/read; other paths have none', () => {
    expect(metadataUrlBesideRead('http://p:9090/prefix/api/v1/read')?.toString()).toBe(
      'http://p:9090/prefix/api/v1/metadata',
    );
    expect(metadataUrlBesideRead('http://influx:8086/api/v1/prom/read')).toBeUndefined();
  });

  test('the remote reader sends its credentials and asks beside its read URL', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const fetchImpl = (async (url: URL, init: RequestInit) => {
      seen.push({ url: String(url), auth: new Headers(init.headers).get('authorization') });
      return new Response('{"status":"success","data":{}}');
    }) as unknown as typeof fetch;
    const reader = new HttpRemoteReader({ url: 'http://u:pw@p:9090/api/v1/read', fetchImpl });
    expect(await reader.metadata()).toEqual([]);
    expect(seen).toEqual([
      { url: 'http://p:9090/api/v1/metadata', auth: `Basic ${Buffer.from('u:pw').toString('base64')}` },
    ]);
  });
});

describe('replicaMetadata', () => {
  const replica = (endpoint: string, metadata?: PrometheusReader['metadata']): PrometheusReader => ({
    endpoint,
    read: async function* () {},
    ...(metadata ? { metadata } : {}),
  });
  const up = { metricFamilyName: 'up', type: 'gauge', help: '', unit: '' } as const;

  test('the union of the replicas that answer; one down is no failure', async () => {
    const down = async () => {
      throw new SourceUnavailableError('down');
    };
    expect(await replicaMetadata([replica('a', down), replica('b', async () => [up])])).toEqual([up]);
  });

  test('undefined when no replica offers metadata; the error when none answers', async () => {
    expect(await replicaMetadata([replica('a'), replica('b', async () => undefined)])).toBeUndefined();
    const down = async () => {
      throw new SourceUnavailableError('down');
    };
    await expect(replicaMetadata([replica('a', down), replica('b', down)])).rejects.toThrow(
      /no replica answered for metric metadata: a: down; b: down/,
    );
  });
});
