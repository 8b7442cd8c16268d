/**
 * Query mode: raw samples through the Prometheus HTTP query API, for servers without remote read
 * (Thanos Query, Mimir/Cortex, VictoriaMetrics, Amazon Managed Prometheus). A window is read by
 * listing its series (/api/v1/series), then fetching them in groups with instant queries of a
 * range selector (/api/v1/query), sized so that no answer exceeds a sample budget; an answer the
 * server refuses as too large (422, "too many samples") or that passes the byte cap is split in
 * half (series, then time) and fetched again. The PromQL and the parsing are core/prom/query-api.ts.
 *
 * Every request goes through one function that takes its headers, so a signer (SigV4 for Amazon
 * Managed Prometheus) plugs in through `signer`. Thanos' `dedup=true` and
 * `partial_response=false` are always sent (other servers ignore them), and an answer with
 * warnings is a failure: a partial answer is never stored as complete.
 *
 * Errors as in remote read: network failures, timeouts, 5xx, 429 and partial answers are
 * SourceUnavailableError; other refusals and undecodable answers SourceRejectedError.
 */
import {
  ResponseTooLargeError,
  sentences,
  SourceProbeError,
  SourceRejectedError,
  SourceUnavailableError,
} from '../core/errors';
import type { PrometheusReader, ReadOptions } from '../core/ports';
import {
  DEFAULT_MAX_SAMPLES_PER_QUERY,
  type LabelMatcher,
  type Labels,
  type MetricMetadata,
  type SeriesPiece,
  type TimeWindow,
} from '../core/types';
import { PRODUCT_USER_AGENT } from '../core/version';
import {
  countByName,
  groupMatchers,
  matrixPieces,
  rangeQuery,
  seriesKey,
  seriesList,
  seriesSelector,
  formatApiTime,
} from '../core/prom/query-api';
import { authHeaders, withoutUserInfo, type HttpCredentials } from './http-auth';
import { describeWindow, networkReason, quoteBody } from './prometheus-remote-read';
import { fetchPrometheusMetadata } from './prometheus-metadata';
import { readCapped } from './read-capped';

export interface QueryReaderOptions extends HttpCredentials {
  /** The Prometheus-compatible base URL, e.g. http://thanos-query:9090 or http://mimir/prometheus. */
  readonly url: string;
  /** Limit for each request, answer included. Default 60 s. */
  readonly timeoutMs?: number;
  readonly fetchImpl?: typeof fetch;
  /** Most samples one answer is planned to hold. Default DEFAULT_MAX_SAMPLES_PER_QUERY. */
  readonly maxSamplesPerQuery?: number;
  /** Most series one query selects. Default 1000 (the regex of a partial group grows with it). */
  readonly maxSeriesPerQuery?: number;
  /** Largest answer read, in bytes; a longer one is split like a 422. Default 256 MiB. */
  readonly maxResponseBytes?: number;
  /** Re-reads the credentials (a rotated secret); called once when the server answers 401/403. */
  readonly refreshCredentials?: () => Promise<HttpCredentials>;
}

const DEFAULT_MAX_SERIES_PER_QUERY = 1000;
const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 60_000;
/** Until an answer tells, a series is assumed to hold one sample a second. */
const INITIAL_SAMPLES_PER_MS = 1 / 1000;
/** Halvings of one request (series, then time) before a refusal is final. */
const MAX_SPLITS = 24;
/** Thanos: merge replicas, never answer from a subset of stores. Others ignore these. */
const THANOS_PARAMS = { dedup: 'true', partial_response: 'false' } as const;
/** The most of an error answer (not 2xx) read to quote it. */
const ERROR_ANSWER_BYTES = 64 * 1024;

/** The server refused an answer as too large, or it passed the byte cap: worth splitting. */
class TooLargeError extends Error {
  override readonly name = 'TooLargeError';
}

/** Refusals of a too large query: Prometheus/Thanos, Mimir/Cortex, VictoriaMetrics. */
const TOO_LARGE =
  /too many samples|exceeded maximum resolution|exceeded the maximum number of|max number of chunks|maxSamplesPer|maxUniqueTimeseries/i;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function hintFor(status: number): string {
  if (status === 401 || status === 403)
    return ' Check the credentials (--basic-auth-file, --bearer-token-file, --header).';
  if (status === 404 || status === 405)
    return (
      ' The URL does not serve the Prometheus query API: give the base URL under which /api/v1/query answers ' +
      '(Mimir and Cortex: http://mimir/prometheus; Amazon Managed Prometheus: https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>).'
    );
  return '';
}

interface ApiAnswer {
  readonly data: unknown;
}

export class HttpQueryReader implements PrometheusReader {
  readonly endpoint: string;
  /** The base URL without user info or a trailing slash: paths are appended to it. */
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly maxSamples: number;
  private readonly maxSeries: number;
  private readonly maxBytes: number;
  private headers: Record<string, string>;
  /** Samples per series per ms of the last answer with samples: sizes the next request. */
  private density = INITIAL_SAMPLES_PER_MS;

  constructor(private readonly options: QueryReaderOptions) {
    const { url, basicAuth } = withoutUserInfo(options.url, options.basicAuth);
    this.endpoint = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    this.base = this.endpoint;
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxSamples = options.maxSamplesPerQuery ?? DEFAULT_MAX_SAMPLES_PER_QUERY;
    this.maxSeries = options.maxSeriesPerQuery ?? DEFAULT_MAX_SERIES_PER_QUERY;
    this.maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.headers = authHeaders({ ...options, basicAuth });
  }

  async *read(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncGenerator<SeriesPiece, void, undefined> {
    if (!(window.endMs > window.startMs)) return;
    const signal = options?.signal;
    const series = await this.listSeries(window, matchers, signal);
    const perName = countByName(series);
    // The next group is asked for while this one is yielded: the server evaluates one query
    // while we parse and store the answer of the other. At most two groups are held.
    const controller = new AbortController();
    const both = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
    let next = 0;
    const start = (): Promise<SeriesPiece[]> | undefined => {
      if (next >= series.length) return undefined;
      const group = series.slice(next, next + this.groupSize(window));
      next += group.length;
      const pending = collect(this.fetchGroup(group, matchers, perName, window, both, 0));
      pending.catch(() => undefined); // awaited in turn; an early exit must not leave it unhandled
      return pending;
    };
    try {
      let current = start();
      while (current) {
        const pieces = await current;
        current = start();
        yield* pieces;
      }
    } finally {
      controller.abort();
    }
  }

  /** Checks that the base URL answers the query API (a constant query), with a message that says what to check. */
  async probe(): Promise<void> {
    try {
      await this.call('/api/v1/query', new URLSearchParams({ query: '1' }), undefined, 'a test query');
    } catch (err) {
      const reason = (err as Error).message;
      if (err instanceof SourceRejectedError)
        throw new SourceProbeError(sentences(reason, 'Check --source and its auth flags'), { cause: err });
      throw new SourceUnavailableError(
        sentences(
          reason,
          'Check --source (the query API base URL, e.g. http://thanos-query:9090) and that it is reachable from here',
        ),
        { cause: err },
      );
    }
  }

  /**
   * The metric metadata of /api/v1/metadata under the base URL (Prometheus, Thanos Query, Mimir,
   * Cortex and Amazon Managed Prometheus serve it); undefined when the server has none.
   */
  async metadata(signal?: AbortSignal): Promise<readonly MetricMetadata[] | undefined> {
    const url = `${this.base}/api/v1/metadata`;
    let headers: Record<string, string> = {
      ...this.headers,
      Accept: 'application/json',
      'User-Agent': PRODUCT_USER_AGENT,
    };
    if (this.options.signer) headers = await this.options.signer({ method: 'GET', url, headers, body: '' });
    return fetchPrometheusMetadata({
      url: new URL(url),
      endpoint: url,
      headers,
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
      signal,
    });
  }

  /** As many series as the budget allows for the whole window, at the density seen last. */
  private groupSize(window: TimeWindow): number {
    const perSeries = this.density * (window.endMs - window.startMs);
    return Math.max(1, Math.min(this.maxSeries, Math.floor(this.maxSamples / Math.max(perSeries, 1))));
  }

  private async listSeries(window: TimeWindow, matchers: readonly LabelMatcher[], signal?: AbortSignal) {
    const params = new URLSearchParams({
      'match[]': seriesSelector(matchers),
      start: formatApiTime(window.startMs),
      end: formatApiTime(window.endMs - 1),
    });
    const what = `listing the series of ${describeWindow(window)}`;
    let answer: ApiAnswer;
    try {
      answer = await this.call('/api/v1/series', params, signal, what);
    } catch (err) {
      if (err instanceof TooLargeError)
        throw new SourceRejectedError(
          `${what} from ${this.endpoint} failed: ${err.message}. Use a narrower --match or shorter shards (--shard-length).`,
        );
      throw err;
    }
    try {
      return seriesList(answer.data);
    } catch (err) {
      throw new SourceRejectedError(`${what} from ${this.endpoint} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The group's samples of the window, in label-set order. A group of one series whose window is
   * over the budget is fetched in consecutive sub-windows, each answer yielded as it arrives.
   */
  private async *fetchGroup(
    group: readonly Labels[],
    base: readonly LabelMatcher[],
    perName: ReadonlyMap<string, number>,
    window: TimeWindow,
    signal: AbortSignal | undefined,
    depth: number,
  ): AsyncGenerator<SeriesPiece, void, undefined> {
    const span = window.endMs - window.startMs;
    if (group.length === 1 && depth === 0 && this.density * span > this.maxSamples) {
      const parts = Math.min(span, Math.ceil((this.density * span) / this.maxSamples));
      for (let p = 0; p < parts; p++) {
        const sub = {
          startMs: window.startMs + Math.floor((span * p) / parts),
          endMs: window.startMs + Math.floor((span * (p + 1)) / parts),
        };
        yield* this.fetchGroup(group, base, perName, sub, signal, 1);
      }
      return;
    }
    let pieces: SeriesPiece[];
    try {
      pieces = await this.fetchOnce(group, base, perName, window, signal);
    } catch (err) {
      if (!(err instanceof TooLargeError)) throw err;
      if (depth >= MAX_SPLITS || (group.length === 1 && span < 2)) {
        throw new SourceRejectedError(
          `query of ${group.length} series for ${describeWindow(window)} from ${this.endpoint} is still too large after ` +
            `${depth} splits: ${err.message}. Raise the server's limit (Prometheus: --query.max-samples) or use shorter shards.`,
        );
      }
      if (group.length > 1) {
        const half = Math.ceil(group.length / 2);
        yield* this.fetchGroup(group.slice(0, half), base, perName, window, signal, depth + 1);
        yield* this.fetchGroup(group.slice(half), base, perName, window, signal, depth + 1);
      } else {
        const mid = window.startMs + Math.floor(span / 2);
        yield* this.fetchGroup(group, base, perName, { startMs: window.startMs, endMs: mid }, signal, depth + 1);
        yield* this.fetchGroup(group, base, perName, { startMs: mid, endMs: window.endMs }, signal, depth + 1);
      }
      return;
    }
    yield* pieces;
  }

  private async fetchOnce(
    group: readonly Labels[],
    base: readonly LabelMatcher[],
    perName: ReadonlyMap<string, number>,
    window: TimeWindow,
    signal: AbortSignal | undefined,
  ): Promise<SeriesPiece[]> {
    const { query, time } = rangeQuery(groupMatchers(base, group, perName), window);
    const what = `query of ${group.length} series for ${describeWindow(window)}`;
    const answer = await this.call(
      '/api/v1/query',
      new URLSearchParams({ query, time, ...THANOS_PARAMS }),
      signal,
      what,
    );
    const wanted = new Set(group.map(seriesKey));
    let result;
    try {
      result = matrixPieces(answer.data, window, (labels) => wanted.has(seriesKey(labels)));
    } catch (err) {
      throw new SourceRejectedError(`${what} from ${this.endpoint} failed: ${(err as Error).message}`, { cause: err });
    }
    if (result.samples > 0) this.density = result.samples / (result.pieces.length * (window.endMs - window.startMs));
    return result.pieces;
  }

  /**
   * One POST of a form to the API: the answer's `data`, or an error that says what failed.
   * Throws TooLargeError for an answer refused or cut as too large.
   */
  private async call(
    path: string,
    params: URLSearchParams,
    signal: AbortSignal | undefined,
    what: string,
    refreshed = false,
  ): Promise<ApiAnswer> {
    signal?.throwIfAborted();
    const url = `${this.base}${path}`;
    const body = params.toString();
    const prefix = `${what} from ${this.endpoint}`;
    let headers: Record<string, string> = {
      ...this.headers,
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      'User-Agent': PRODUCT_USER_AGENT,
    };
    // `signer` (HttpCredentials) signs the final URL, headers and body (SigV4).
    if (this.options.signer) headers = await this.options.signer({ method: 'POST', url, headers, body });
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let statusText: string;
    let text: string;
    try {
      const response = await this.fetchImpl(url, {
        method: 'POST',
        headers,
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = response.status;
      statusText = response.statusText;
      const cap = response.ok ? this.maxBytes : ERROR_ANSWER_BYTES;
      const tooLarge = (capBytes: number) => `the answer is longer than ${capBytes} bytes`;
      text = await readCapped(response.body, cap, tooLarge).then(
        (bytes) => Buffer.from(bytes).toString('utf8'),
        (err: unknown) => {
          // An error answer is quoted for its first bytes only; a too long one is simply not quoted.
          if (err instanceof ResponseTooLargeError && !response.ok) return '';
          throw err;
        },
      );
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof ResponseTooLargeError) throw new TooLargeError(err.message, { cause: err });
      if (timeout.aborted)
        throw new SourceUnavailableError(`${prefix} timed out: no complete answer in ${this.timeoutMs} ms`, {
          cause: err,
        });
      throw new SourceUnavailableError(`${prefix} failed: ${networkReason(err)}`, { cause: err });
    }
    let doc: {
      status?: unknown;
      data?: unknown;
      error?: unknown;
      errorType?: unknown;
      warnings?: unknown;
      isPartial?: unknown;
    };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      doc = {};
    }
    const serverError = typeof doc.error === 'string' ? doc.error : text;
    if (status < 200 || status > 299 || doc.status !== 'success') {
      if ((status === 401 || status === 403) && this.options.refreshCredentials && !refreshed) {
        // A secret rotated since it was read gets one more try.
        this.headers = authHeaders(await this.options.refreshCredentials());
        return this.call(path, params, signal, what, true);
      }
      const message = `${prefix} failed: HTTP ${status}${statusText ? ' ' + statusText : ''}: ${quoteBody(serverError)}`;
      if (status === 422 || (status >= 400 && TOO_LARGE.test(serverError))) throw new TooLargeError(message);
      if (status >= 500 || status === 429 || status === 408) throw new SourceUnavailableError(message);
      if (status >= 200 && status <= 299)
        throw new SourceRejectedError(
          `${prefix} failed: the answer is not a Prometheus API answer: ${quoteBody(text)}. Check that --source is the query API base URL.`,
        );
      throw new SourceRejectedError(message + hintFor(status));
    }
    const warnings = Array.isArray(doc.warnings) ? doc.warnings : [];
    if (warnings.length > 0 || doc.isPartial === true) {
      // Thanos and Mimir answer with warnings when a store did not answer: the data may be partial.
      throw new SourceUnavailableError(
        `${prefix} failed: the answer may be partial, the server warned: ${quoteBody(warnings.map(String).join('; ') || 'isPartial')}`,
      );
    }
    return { data: doc.data };
  }
}
