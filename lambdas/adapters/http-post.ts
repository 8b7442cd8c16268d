/**
 * One HTTP POST with a deadline, for clients that send many small requests (remote write).
 *
 * The default goes through node:http(s) with a keep-alive agent rather than fetch: per remote-write
 * request fetch costs several times the CPU, and on a small machine that CPU is taken from the
 * target (docs/BENCHMARKS.md, "Earlier changes").
 * `fetchPost` keeps a fetch-shaped seam for tests and callers that bring their own fetch.
 */
import http from 'node:http';
import https from 'node:https';
import { ResponseTooLargeError } from '../core/errors';
import { readCapped, RESPONSE_CAPS } from './read-capped';

export interface PostRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface PostResponse {
  readonly status: number;
  readonly statusText: string;
  /** A response header by lower-case name, or null. */
  header(name: string): string | null;
  /** The response body as text (error bodies are short). */
  readonly text: string;
}

export type HttpPost = (url: string, request: PostRequest) => Promise<PostResponse>;

/** Most a remote-write answer may hold: receivers answer with a status line or a short error. */
export const MAX_RESPONSE_BYTES = RESPONSE_CAPS.writeAnswerBytes;

/** Why an answer longer than MAX_RESPONSE_BYTES is refused: no remote-write receiver sends one. */
function tooLargeMessage(url: string): string {
  return (
    `the answer from ${url} is longer than ${MAX_RESPONSE_BYTES} bytes, the most promvault reads from a ` +
    'remote-write endpoint: check that the URL is a remote-write receiver (…/api/v1/write)'
  );
}

/** A network-level failure, shaped like the errors isNetworkError() classifies. */
function timeoutError(url: string, ms: number): Error {
  const err = new Error(`no response from ${url} within ${ms} ms`);
  err.name = 'TimeoutError';
  return err;
}

/** POSTs over node:http or node:https, reusing connections; idle sockets never hold the process open. */
export function nodeHttpPost(): HttpPost {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: 60_000 }),
    'https:': new https.Agent({ keepAlive: true, timeout: 60_000 }),
  };
  return (url, { headers, body, timeoutMs, signal }) =>
    new Promise<PostResponse>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const target = new URL(url);
      const agent = agents[target.protocol as keyof typeof agents];
      if (!agent) return reject(new Error(`${url}: only http and https URLs can be posted to`));
      const send = target.protocol === 'https:' ? https.request : http.request;
      const req = send(target, {
        method: 'POST',
        agent,
        headers: { ...headers, 'Content-Length': String(body.byteLength) },
      });
      const timer = setTimeout(() => req.destroy(timeoutError(url, timeoutMs)), timeoutMs);
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (err) => {
        done();
        reject(err);
      });
      req.on('response', (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.byteLength;
          if (size > MAX_RESPONSE_BYTES)
            req.destroy(new ResponseTooLargeError(tooLargeMessage(url), MAX_RESPONSE_BYTES));
          else parts.push(d);
        });
        res.on('error', (err) => {
          done();
          reject(err);
        });
        res.on('end', () => {
          done();
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
            },
            text: Buffer.concat(parts).toString('utf8'),
          });
        });
      });
      req.end(body);
    });
}

/** The same contract over a fetch implementation. */
export function fetchPost(fetchImpl: typeof fetch): HttpPost {
  return async (url, { headers, body, timeoutMs, signal }) => {
    const res = await fetchImpl(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]),
    });
    // Success bodies are read too: a 2xx with a web page in it is no receiver's answer.
    const bytes = await readCapped(res.body, MAX_RESPONSE_BYTES, () => tooLargeMessage(url)).catch((err: unknown) => {
      if (err instanceof ResponseTooLargeError) throw err;
      return new Uint8Array(0);
    });
    const text = Buffer.from(bytes).toString('utf8');
    return { status: res.status, statusText: res.statusText, header: (name) => res.headers.get(name), text };
  };
}
