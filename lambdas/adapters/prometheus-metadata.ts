/**
 * Metric metadata from the Prometheus HTTP API (`GET /api/v1/metadata`): every metric family
 * the server knows, each with the `# TYPE`/`# HELP`/`# UNIT` its targets report. Prometheus
 * keeps it in memory for the metrics of its current targets only. Thanos Query, Mimir and
 * Cortex serve the same endpoint, so the query-mode reader can use this too.
 *
 * Errors as for remote read: network failures, timeouts, 5xx and 429 are SourceUnavailableError;
 * other 4xx and answers that are not the API's JSON are SourceRejectedError. A 404 or 405 means
 * the server has no metadata API (a proxy that forwards remote read only): undefined.
 */
import { z } from 'zod';
import { SourceRejectedError, SourceUnavailableError } from '../core/errors';
import { isMetricType } from '../core/metadata';
import type { MetricMetadata } from '../core/types';
import { PRODUCT_USER_AGENT } from '../core/version';

/** An answer larger than this is not metadata (Prometheus' for ~10k families is a few MiB). */
export const MAX_METADATA_BYTES = 64 << 20;

const metadataAnswer = z.object({
  status: z.literal('success'),
  data: z.record(
    z.string(),
    z.array(z.object({ type: z.string(), help: z.string().default(''), unit: z.string().default('') })),
  ),
});

export interface MetadataRequest {
  /** The metadata URL, e.g. http://prometheus:9090/api/v1/metadata (never printed with credentials). */
  readonly url: URL;
  /** For messages: the URL without credentials or query. */
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly fetchImpl?: typeof fetch;
  readonly signal?: AbortSignal;
}

/** The metadata URL beside a remote-read URL (…/api/v1/read), or undefined for another path. */
export function metadataUrlBesideRead(readUrl: string): URL | undefined {
  const url = new URL(readUrl);
  if (!url.pathname.endsWith('/api/v1/read')) return undefined;
  url.pathname = url.pathname.slice(0, -'read'.length) + 'metadata';
  url.search = '';
  return url;
}

export async function fetchPrometheusMetadata(req: MetadataRequest): Promise<MetricMetadata[] | undefined> {
  const what = `reading metric metadata from ${req.endpoint}`;
  const timeout = AbortSignal.timeout(req.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await (req.fetchImpl ?? fetch)(req.url, {
      headers: { Accept: 'application/json', 'User-Agent': PRODUCT_USER_AGENT, ...req.headers },
      signal: req.signal ? AbortSignal.any([req.signal, timeout]) : timeout,
    });
    if (response.status === 404 || response.status === 405) {
      await response.body?.cancel();
      return undefined;
    }
    text = await readCapped(response);
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    if (err instanceof SourceRejectedError) throw new SourceRejectedError(`${what} failed: ${err.message}`);
    const reason = timeout.aborted ? `no answer within ${req.timeoutMs} ms` : networkReason(err);
    throw new SourceUnavailableError(`${what} failed: ${reason}`, { cause: err });
  }
  if (!response.ok) {
    const message = `${what} failed: HTTP ${response.status}: ${JSON.stringify(text.trim().slice(0, 300))}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new SourceUnavailableError(message);
    }
    throw new SourceRejectedError(message);
  }
  let parsed: z.infer<typeof metadataAnswer>;
  try {
    parsed = metadataAnswer.parse(JSON.parse(text));
  } catch (err) {
    throw new SourceRejectedError(
      `${what} failed: the answer is not the Prometheus API's metadata JSON: ${JSON.stringify(text.trim().slice(0, 300))}`,
      { cause: err },
    );
  }
  const out: MetricMetadata[] = [];
  for (const [metricFamilyName, entries] of Object.entries(parsed.data)) {
    for (const e of entries) {
      // Types this build does not know (a newer server's) are kept as unknown rather than dropped.
      out.push({ metricFamilyName, type: isMetricType(e.type) ? e.type : 'unknown', help: e.help, unit: e.unit });
    }
  }
  return out;
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_METADATA_BYTES) {
      await response.body.cancel().catch(() => undefined);
      throw new SourceRejectedError(`the answer is larger than ${MAX_METADATA_BYTES} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

function networkReason(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.code;
  const msg = e?.cause?.message ?? e?.message ?? String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
