import { SourceRejectedError, SourceUnavailableError } from '../../../lambdas/core/errors';
import { federateUrl, HttpFederateScraper } from '../../../lambdas/adapters/prometheus-federate';

interface Seen {
  url: string;
  headers: Record<string, string>;
}

function scraper(
  answer: () => Response | Promise<Response>,
  options: { url?: string; maxResponseBytes?: number } = {},
) {
  const seen: Seen[] = [];
  const fetchImpl = (async (url: URL, init: RequestInit) => {
    seen.push({ url: url.toString(), headers: init.headers as Record<string, string> });
    return answer();
  }) as unknown as typeof fetch;
  const s = new HttpFederateScraper({
    url: options.url ?? 'http://user:secret@prom:9090',
    fetchImpl,
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {}),
  });
  return { s, seen };
}

describe('HttpFederateScraper', () => {
  test('GETs /federate with match[] (every series for the empty selector), text 0.0.4 and basic auth from the URL', async () => {
    const { s, seen } = scraper(() => new Response('up 1 5\n'));
    expect(await s.scrape('{job="a b"}')).toBe('up 1 5\n');
    await s.scrape('');
    const urls = seen.map((x) => new URL(x.url));
    expect(urls.map((u) => u.pathname)).toEqual(['/federate', '/federate']);
    expect(urls.map((u) => u.searchParams.getAll('match[]'))).toEqual([['{job="a b"}'], ['{__name__=~".+"}']]);
    expect(urls[0]!.username).toBe('');
    expect(seen[0]!.headers.Accept).toBe('text/plain;version=0.0.4');
    expect(seen[0]!.headers.Authorization).toBe(`Basic ${Buffer.from('user:secret').toString('base64')}`);
    expect(s.endpoint).toBe('http://prom:9090/federate');
  });

  test.each([
    ['http://prom:9090', 'http://prom:9090/federate'],
    ['http://prom:9090/', 'http://prom:9090/federate'],
    ['http://gw/prometheus/federate', 'http://gw/prometheus/federate'],
  ])('federateUrl(%s) is %s', (base, url) => {
    expect(federateUrl(base).toString()).toBe(url);
  });

  test('5xx and 429 are worth another try; 404 says to give the base URL; 401 names the credential flags', async () => {
    await expect(scraper(() => new Response('busy', { status: 503 })).s.scrape('')).rejects.toThrow(
      SourceUnavailableError,
    );
    await expect(scraper(() => new Response('', { status: 429 })).s.scrape('')).rejects.toThrow(SourceUnavailableError);
    const notFound = scraper(() => new Response('404 page not found', { status: 404 })).s.scrape('');
    await expect(notFound).rejects.toThrow(SourceRejectedError);
    await expect(notFound).rejects.toThrow(/HTTP 404: "404 page not found" The URL does not serve \/federate/);
    await expect(scraper(() => new Response('', { status: 401 })).s.scrape('')).rejects.toThrow(/--bearer-token-file/);
  });

  test('a network failure is worth another try and its message carries no credential', async () => {
    const { s } = scraper(() => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } });
    });
    const err = (await s.scrape('').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).toBe('GET http://prom:9090/federate failed: connect ECONNREFUSED');
    expect(err.message).not.toMatch(/secret/);
  });

  test('an answer over the size cap fails, naming the cap and the fix', async () => {
    const { s } = scraper(() => new Response('x'.repeat(2000)), { maxResponseBytes: 1000 });
    await expect(s.scrape('')).rejects.toThrow(/more than 1000 bytes: narrow the capture with --match/);
  });

  test('an answer that is not UTF-8 is rejected', async () => {
    const { s } = scraper(() => new Response(new Uint8Array([0x75, 0x70, 0xff, 0x20, 0x31])));
    await expect(s.scrape('')).rejects.toThrow(/not UTF-8/);
  });
});
