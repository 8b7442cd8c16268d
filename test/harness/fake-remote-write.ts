/**
 * A remote-write receiver on 127.0.0.1 for fault tests: it decodes every request it accepts and
 * answers according to a script (e.g. 500, 500, then 204), so a test can count what arrived.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeWriteRequest, decodeWriteRequestMetadata } from './prompb-server';
import { snappyUncompress } from '../../lambdas/core/prom/snappy';
import type { MetricMetadata, SeriesPiece } from '../../lambdas/core/types';

export interface ScriptedAnswer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface FakeRemoteWrite {
  readonly url: string;
  /** Requests with samples seen, accepted or not. */
  readonly requests: number;
  /** Empty requests (promvault's probe before the first sample), answered 204 outside the script. */
  readonly probes: number;
  /** Series of the accepted requests, in arrival order. */
  readonly accepted: SeriesPiece[];
  readonly acceptedSamples: number;
  /** Metric metadata of every request (WriteRequest.metadata), in arrival order; those requests carry no samples. */
  readonly metadata: MetricMetadata[];
  stop(): Promise<void>;
}

/** `script(n)` answers the n-th request (0-based); 204 means accepted. */
export async function startFakeRemoteWrite(script: (n: number) => ScriptedAnswer): Promise<FakeRemoteWrite> {
  const accepted: SeriesPiece[] = [];
  const metadata: MetricMetadata[] = [];
  let requests = 0;
  let probes = 0;
  let acceptedSamples = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = snappyUncompress(Buffer.concat(chunks));
      const series = decodeWriteRequest(body);
      metadata.push(...decodeWriteRequestMetadata(body));
      if (series.length === 0) {
        probes++;
        res.writeHead(204);
        res.end();
        return;
      }
      const answer = script(requests++);
      if (answer.status === 204) {
        for (const s of series) {
          accepted.push(s);
          acceptedSamples += s.timestamps.length;
        }
      }
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    get requests() {
      return requests;
    },
    get probes() {
      return probes;
    },
    accepted,
    metadata,
    get acceptedSamples() {
      return acceptedSamples;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
