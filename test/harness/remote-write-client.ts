/** Sends series to a real remote-write receiver the way Prometheus' own remote write does (1.0, snappy). */
import { encodeWriteRequest } from '../../lambdas/core/prom/prompb';
import { snappyCompress } from '../../lambdas/core/prom/snappy';
import type { SeriesPiece } from '../../lambdas/core/types';

/** POSTs one remote-write 1.0 request; returns the HTTP status and body. */
export async function remoteWrite(url: string, series: SeriesPiece[]): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    body: snappyCompress(encodeWriteRequest(series)),
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
    },
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: await res.text() };
}
