/**
 * A remote-write proxy on 127.0.0.1 in front of a real target: it decodes each request, records
 * what it carried, optionally waits before forwarding (to make a restore slow enough to kill
 * mid-way), can drop series (a target that loses samples while answering 2xx), and passes the
 * target's answer back unchanged.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeWriteRequest } from '../../lambdas/core/prom/prompb';
import { decodeWriteRequest } from './prompb-server';
import { snappyCompress, snappyUncompress } from '../../lambdas/core/prom/snappy';
import type { SeriesPiece } from '../../lambdas/core/types';

export interface RemoteWriteProxy {
  readonly url: string;
  /** Series of every request forwarded, in arrival order (probes carry none). */
  readonly forwarded: SeriesPiece[];
  /** Requests forwarded, probes included. */
  readonly requests: number;
  /** Forgets what was recorded, e.g. between two runs. */
  reset(): void;
  stop(): Promise<void>;
}

export async function startRemoteWriteProxy(
  targetUrl: string,
  options: { delayMs?: number; drop?: (piece: SeriesPiece) => boolean } = {},
): Promise<RemoteWriteProxy> {
  let forwarded: SeriesPiece[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let body: Uint8Array = Buffer.concat(chunks);
        requests++;
        const series = decodeWriteRequest(snappyUncompress(body));
        forwarded.push(...series);
        // A lossy target: drops what `drop` picks and still answers as the target does.
        if (options.drop) body = snappyCompress(encodeWriteRequest(series.filter((p) => !options.drop!(p))));
        if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        const headers: Record<string, string> = {};
        for (const name of ['content-encoding', 'content-type', 'x-prometheus-remote-write-version'])
          if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
        const answer = await fetch(targetUrl, { method: 'POST', body, headers });
        const text = await answer.text();
        res.writeHead(answer.status, { 'Content-Type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(text);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    get forwarded() {
      return forwarded;
    },
    get requests() {
      return requests;
    },
    reset() {
      forwarded = [];
      requests = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
