/**
 * A local stand-in for Amazon Managed Prometheus' front door on 127.0.0.1: every request must
 * carry a valid SigV4 signature (checked by sigv4-verify.ts, independent of the signer under
 * test); a missing or bad one gets 403 with the reason and, as AWS's SignatureDoesNotMatch quotes
 * the canonical request, every header it received (signature and session token included, so a
 * test sees whether they leak into output); a good one is forwarded,
 * body and answer unchanged (remote-read answers stream through), to a real Prometheus.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { verifySigV4, type VerifierOptions } from './sigv4-verify';

export interface SigV4Proxy {
  /** http://127.0.0.1:PORT: paths are forwarded as they are to the upstream. */
  readonly url: string;
  /** Requests accepted and forwarded. */
  readonly accepted: number;
  /** Reasons of the requests refused with 403, in order. */
  readonly refused: readonly string[];
  stop(): Promise<void>;
}

/** Headers a Prometheus endpoint needs to see; signing headers stay behind. */
const FORWARDED = [
  'content-type',
  'content-encoding',
  'accept',
  'x-prometheus-remote-write-version',
  'x-prometheus-remote-read-version',
];

export async function startSigV4Proxy(
  upstream: string,
  options: Pick<VerifierOptions, 'keys' | 'region'> & { service?: string },
): Promise<SigV4Proxy> {
  let accepted = 0;
  const refused: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const verdict = verifySigV4(
          { method: req.method ?? 'GET', target: req.url ?? '/', headers: req.headers, body },
          { ...options, service: options.service ?? 'aps' },
        );
        if (!verdict.ok) {
          refused.push(verdict.reason);
          res.writeHead(403, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ message: `SigV4 check failed: ${verdict.reason}`, received: req.headers }));
          return;
        }
        accepted++;
        const headers: Record<string, string> = {};
        for (const name of FORWARDED) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
        const answer = await fetch(upstream.replace(/\/$/, '') + req.url, {
          method: req.method,
          headers,
          ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        });
        const out: Record<string, string> = {};
        for (const name of ['content-type', 'content-encoding']) {
          const v = answer.headers.get(name);
          // fetch has already undone gzip, deflate and br (e.g. /api/v1/metadata); snappy stays.
          if (v !== null && !(name === 'content-encoding' && /^(gzip|deflate|br)$/i.test(v))) out[name] = v;
        }
        res.writeHead(answer.status, out);
        if (answer.body) Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream).pipe(res);
        else res.end();
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    refused,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
