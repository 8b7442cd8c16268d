import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchPost, MAX_RESPONSE_BYTES, nodeHttpPost } from '../../../lambdas/adapters/http-post';
import { isNetworkError } from '../../../lambdas/adapters/http-retry';

type Handler = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void;

/** A local HTTP server that hands each request, body read, to the test's current handler. */
async function serve(handler: { current: Handler }): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => handler.current(req, Buffer.concat(parts), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('nodeHttpPost', () => {
  const handler: { current: Handler } = { current: () => undefined };
  let server: { url: string; close: () => Promise<void> };
  const post = nodeHttpPost();

  /** Streams far more than the cap, in pieces, until the client hangs up; counts what it sent. */
  function answerTooLong(): { bytes: number } {
    const streamed = { bytes: 0 };
    handler.current = (_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (streamed.bytes < 64 * MAX_RESPONSE_BYTES && res.write(chunk)) streamed.bytes += chunk.length;
        if (streamed.bytes < 64 * MAX_RESPONSE_BYTES) res.once('drain', pump);
        else res.end();
      };
      res.on('error', () => undefined);
      pump();
    };
    return streamed;
  }

  beforeAll(async () => {
    server = await serve(handler);
  });
  afterAll(() => server.close());

  it('sends the body and headers with a Content-Length, and reuses the connection', async () => {
    const seen: { headers: http.IncomingHttpHeaders; body: Buffer; socket: unknown }[] = [];
    handler.current = (req, body, res) => {
      seen.push({ headers: req.headers, body, socket: req.socket });
      res.statusCode = 204;
      res.end();
    };
    const body = Uint8Array.from([1, 2, 3, 250]);
    for (let i = 0; i < 2; i++) {
      const res = await post(server.url, { headers: { 'X-Scope-OrgID': 't1' }, body, timeoutMs: 5000 });
      expect(res.status).toBe(204);
    }
    expect(seen[0]!.headers['x-scope-orgid']).toBe('t1');
    expect(seen[0]!.headers['content-length']).toBe('4');
    expect([...seen[0]!.body]).toEqual([1, 2, 3, 250]);
    expect(seen[1]!.socket).toBe(seen[0]!.socket);
  });

  it('returns the status, text and headers of an error response', async () => {
    handler.current = (_req, _body, res) => {
      res.writeHead(503, 'Busy', { 'Retry-After': '7' });
      res.end('try later');
    };
    const res = await post(server.url, { headers: {}, body: new Uint8Array(1), timeoutMs: 5000 });
    expect([res.status, res.statusText, res.text, res.header('Retry-After')]).toEqual([503, 'Busy', 'try later', '7']);
    expect(res.header('x-missing')).toBeNull();
  });

  it('fails with a retryable TimeoutError when no answer comes within the deadline', async () => {
    handler.current = () => undefined; // never answers
    const started = Date.now();
    const err = await post(server.url, { headers: {}, body: new Uint8Array(1), timeoutMs: 150 }).catch((e) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect((err as Error).message).toContain(server.url);
    expect(isNetworkError(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('fails with a retryable error when the server drops the connection', async () => {
    handler.current = (req) => req.socket.destroy();
    const err = await post(server.url, { headers: {}, body: new Uint8Array(1), timeoutMs: 5000 }).catch((e) => e);
    expect((err as { code?: string }).code).toBe('ECONNRESET');
    expect(isNetworkError(err)).toBe(true);
  });

  it('stops at once when the caller aborts', async () => {
    handler.current = () => undefined;
    const controller = new AbortController();
    const pending = post(server.url, {
      headers: {},
      body: new Uint8Array(1),
      timeoutMs: 60_000,
      signal: controller.signal,
    }).catch((e) => e);
    setTimeout(() => controller.abort(new Error('stopped by the user')), 50);
    expect(((await pending) as Error).message).toBe('stopped by the user');
  });

  it('stops reading an answer longer than the cap, naming the endpoint and the cap, and does not retry it', async () => {
    const streamed = answerTooLong();
    const err = (await post(server.url, { headers: {}, body: new Uint8Array(1), timeoutMs: 5000 }).catch(
      (e) => e,
    )) as Error;
    expect(err.name).toBe('ResponseTooLargeError');
    expect(err.message).toContain(server.url);
    expect(err.message).toContain(`longer than ${MAX_RESPONSE_BYTES} bytes`);
    expect(isNetworkError(err)).toBe(false);
    expect(streamed.bytes).toBeLessThan(64 * MAX_RESPONSE_BYTES);
  });

  it('fetchPost caps the answer the same way (it used to keep the whole body)', async () => {
    const streamed = answerTooLong();
    const err = (await fetchPost(fetch)(server.url, { headers: {}, body: new Uint8Array(1), timeoutMs: 5000 }).catch(
      (e) => e,
    )) as Error;
    expect(err.name).toBe('ResponseTooLargeError');
    expect(err.message).toContain(server.url);
    expect(err.message).toContain(`longer than ${MAX_RESPONSE_BYTES} bytes`);
    expect(streamed.bytes).toBeLessThan(64 * MAX_RESPONSE_BYTES);
  });

  it('refuses URLs that are not http or https', async () => {
    await expect(
      post('ftp://example.com/x', { headers: {}, body: new Uint8Array(1), timeoutMs: 1000 }),
    ).rejects.toThrow(/only http and https/);
  });
});
