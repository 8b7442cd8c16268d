/**
 * Prometheus remote read over HTTP (/api/v1/read): one Query per window, preferring the
 * streamed XOR-chunk response (parsed frame by frame as the body arrives) and falling back to
 * the SAMPLES response for servers that only offer that.
 *
 * Errors: network failures, timeouts, 5xx, 429 and damaged streams are SourceUnavailableError
 * (worth retrying); other 4xx and undecodable answers are SourceRejectedError. Every message
 * names the endpoint and the window and quotes the server. Credentials never appear in messages.
 */
import {
  InputError,
  ResponseTooLargeError,
  sentences,
  SourceProbeError,
  SourceRejectedError,
  SourceUnavailableError,
} from '../core/errors';
import { describeBytes, readCapped, RESPONSE_CAPS } from './read-capped';
import type { PrometheusReader, ReadOptions } from '../core/ports';
import type { LabelMatcher, Labels, MetricMetadata, SeriesPiece, TimeWindow } from '../core/types';
import { formatIso } from '../core/time';
import { compareLabels } from '../core/labels';
import { PRODUCT_USER_AGENT } from '../core/version';
import {
  authHeaders,
  checkOneAuthorization,
  SIGNED_REFUSAL_FIX,
  withoutUserInfo,
  type HttpCredentials,
  type RequestSigner,
} from './http-auth';
import { CorruptFrameError, DecodeError } from '../core/prom/decode-error';
import { DEFAULT_MAX_FRAME_BYTES } from '../core/prom/frames';
import { newReadStats, piecesFromStream, trimPiece, type ReadStats } from '../core/prom/chunks-to-pieces';
import {
  CONTENT_TYPE_PROTOBUF,
  decodeReadResponse,
  encodeReadRequest,
  RESPONSE_SAMPLES,
  RESPONSE_STREAMED_XOR_CHUNKS,
} from '../core/prom/prompb';
import { snappyCompress, snappyUncompress, snappyUncompressedLength } from '../core/prom/snappy';
import { fetchPrometheusMetadata, metadataUrlBesideRead } from './prometheus-metadata';

export type RemoteReadMode = 'auto' | 'samples';

export interface RemoteReadOptions {
  /** The remote-read URL, e.g. http://prometheus:9090/api/v1/read. user:pass@ in it is used as basic auth. */
  readonly url: string;
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
  /** Extra headers, e.g. X-Scope-OrgID. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Limit for the response headers to arrive and for every wait on the body. Default 60 s. */
  readonly timeoutMs?: number;
  readonly fetchImpl?: typeof fetch;
  /** 'auto' asks for streamed chunks and accepts samples; 'samples' asks for samples only. */
  readonly mode?: RemoteReadMode;
  /** Largest streamed frame accepted. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  /** Largest SAMPLES response accepted, compressed and uncompressed. Default RESPONSE_CAPS.samplesBytes (1 GiB). */
  readonly maxResponseBytes?: number;
  /** How a user changes maxResponseBytes, for the error that names it ('' when nothing can). Default '--max-response-bytes'. */
  readonly maxResponseSetting?: string;
  /** How a user changes timeoutMs, for the error that names it. Default '--timeout'. */
  readonly timeoutSetting?: string;
  /** Called per native-histogram chunk; without it, a histogram chunk fails the read. */
  readonly onUnsupportedChunk?: (labels: Labels, encoding: number) => void;
  /** Called when a read ends successfully. */
  readonly onReadDone?: (info: { window: TimeWindow; responseType: 'streamed' | 'samples'; stats: ReadStats }) => void;
  /** Re-reads the credentials (e.g. a rotated secret); called once when the source answers 401/403. */
  readonly refreshCredentials?: () => Promise<HttpCredentials>;
  /** Where the user gave this endpoint and its credentials, for the fix a message names. */
  readonly input?: SourceInput;
  /** Signs each request (SigV4 for Amazon Managed Prometheus): the body is signed as sent. */
  readonly signer?: RequestSigner;
}

/** The flag (or setting) that gave the URL, and where its credentials come from. */
export interface SourceInput {
  readonly flag: string;
  readonly auth: string;
}

export const SOURCE_INPUT: SourceInput = {
  flag: '--source',
  auth: '--basic-auth-file, --bearer-token-file, --header',
};

export const DEFAULT_TIMEOUT_MS = 60_000;
const STREAMED_PREFIX = 'application/x-streamed-protobuf';
/** Remote read with no matchers selects nothing in Prometheus; this selects every series. */
const ALL_SERIES: readonly LabelMatcher[] = [{ type: '=~', name: '__name__', value: '.+' }];

/** Redacts userinfo and the query from a URL for messages. */
function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
}

export function describeWindow(w: TimeWindow): string {
  return `[${formatIso(w.startMs)}, ${formatIso(w.endMs)})`;
}

export function quoteBody(text: string): string {
  const t = text.trim();
  if (t === '') return '(empty body)';
  return JSON.stringify(t.length > 300 ? t.slice(0, 300) + '…' : t);
}

/** Why a fetch failed, without the URL (which may carry credentials in some runtimes' messages). */
export function networkReason(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.code;
  const msg = e?.cause?.message ?? e?.message ?? String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

class Deadline {
  private timer: ReturnType<typeof setTimeout> | undefined;
  expired = false;

  constructor(
    private readonly controller: AbortController,
    private readonly ms: number,
  ) {}

  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new Error(`no response for ${this.ms} ms`));
    }, this.ms);
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function hintFor(status: number, body: string, input: SourceInput, signed: boolean): string | undefined {
  if (/sample limit/i.test(body)) {
    return 'The window holds more samples than the server returns at once: use shorter shards (--shard-length) or raise --storage.remote.read-sample-limit on Prometheus';
  }
  if (status === 401 || status === 403)
    return signed
      ? `The request was signed with SigV4: ${SIGNED_REFUSAL_FIX} (aps:QueryMetrics on the workspace)`
      : `Check the credentials (${input.auth})`;
  if (status === 404 || status === 405 || /unsupported path/i.test(body)) {
    const fix = `The URL does not serve remote read: ${input.flag} must point at Prometheus (the path /api/v1/read is added), e.g. http://prometheus:9090`;
    // Only a backup's --source (or a configured source) can be read another way.
    if (input.flag !== SOURCE_INPUT.flag) return fix;
    return (
      `${fix}.` +
      ' A server without remote read (Thanos Query, Mimir, VictoriaMetrics, Amazon Managed Prometheus) is read through its query API:' +
      ' try --source-mode query (in cdk.json, "mode": "query" on the source)'
    );
  }
  return undefined;
}

export class HttpRemoteReader implements PrometheusReader {
  readonly endpoint: string;
  private readonly url: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly input: SourceInput;
  private headers: Record<string, string>;

  constructor(private readonly options: RemoteReadOptions) {
    const { url, basicAuth } = withoutUserInfo(options.url, options.basicAuth);
    this.url = url.toString();
    this.endpoint = describeUrl(url);
    checkOneAuthorization({ ...options, basicAuth }, `the source ${this.endpoint}`);
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.input = options.input ?? SOURCE_INPUT;
    this.headers = this.headersWith({ ...options, basicAuth });
  }

  private headersWith(credentials: HttpCredentials): Record<string, string> {
    return {
      'Content-Encoding': 'snappy',
      'Content-Type': CONTENT_TYPE_PROTOBUF,
      'X-Prometheus-Remote-Read-Version': '0.1.0',
      'User-Agent': PRODUCT_USER_AGENT,
      ...authHeaders(credentials),
    };
  }

  /** Every sample of the window of every matching series; streamed when the server can. */
  read(window: TimeWindow, matchers: readonly LabelMatcher[], options?: ReadOptions): AsyncIterable<SeriesPiece> {
    const accepted =
      this.options.mode === 'samples' ? [RESPONSE_SAMPLES] : [RESPONSE_STREAMED_XOR_CHUNKS, RESPONSE_SAMPLES];
    return this.readWith(window, matchers, accepted, options?.signal);
  }

  /** Like read(), but asks for the SAMPLES response only (the non-streamed protocol). */
  readSamplesMode(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncIterable<SeriesPiece> {
    return this.readWith(window, matchers, [RESPONSE_SAMPLES], options?.signal);
  }

  /**
   * Checks that the endpoint answers remote read (a read of an empty 1 ms window), failing with
   * a message that says what to check.
   */
  async probe(): Promise<void> {
    const window = { startMs: 0, endMs: 1 };
    const matchers: LabelMatcher[] = [{ type: '=', name: '__name__', value: 'promvault_probe' }];
    try {
      for await (const _ of this.readWith(window, matchers, [RESPONSE_SAMPLES], undefined)) {
        // An empty window: nothing to look at.
      }
    } catch (err) {
      // The reason without the "remote read from <endpoint> for <window> failed:" prefix.
      const reason = (err as Error).message.replace(/^remote read from \S+ for \[[^\])]*\) (failed: )?/, '');
      const { flag, auth } = this.input;
      if (err instanceof SourceRejectedError) {
        // The reason may carry its own fix (the URL, the credentials); then it is not repeated.
        const fix =
          reason.includes(flag) || reason.includes(auth) ? undefined : `Check ${flag} and its credentials (${auth})`;
        throw new SourceProbeError(sentences(`Prometheus at ${this.endpoint} refused a remote read: ${reason}`, fix), {
          cause: err,
        });
      }
      throw new SourceUnavailableError(
        sentences(
          `cannot reach Prometheus at ${this.endpoint}: ${reason}`,
          `Check ${flag} (the Prometheus base URL, e.g. http://prometheus:9090) and that it is reachable from here`,
        ),
        { cause: err },
      );
    }
  }

  /**
   * The oldest sample Prometheus retains, from its own `prometheus_tsdb_lowest_timestamp` gauge
   * at /metrics (next to /api/v1/read): the first block's start, or the head's when there is no
   * block, so an empty TSDB reports the largest int64. /api/v1/status/tsdb is no substitute: its
   * minTime covers the head only. Undefined when the server does not expose the gauge (Thanos,
   * Mimir, a proxy).
   */
  async oldestTimestamp(signal?: AbortSignal): Promise<number | undefined> {
    const url = new URL(this.url);
    if (!url.pathname.endsWith('/api/v1/read')) return undefined;
    url.pathname = url.pathname.slice(0, -'/api/v1/read'.length) + '/metrics';
    let headers: Record<string, string> = { 'User-Agent': PRODUCT_USER_AGENT, ...this.options.headers };
    if (this.headers['Authorization']) headers['Authorization'] = this.headers['Authorization'];
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let text: string;
    try {
      if (this.options.signer) headers = await this.options.signer({ method: 'GET', url: url.toString(), headers });
      const response = await this.fetchImpl(url, {
        headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (!response.ok) {
        await response.body?.cancel();
        return undefined;
      }
      const bytes = await readCapped(
        response.body,
        RESPONSE_CAPS.metricsBytes,
        (cap) => `${describeUrl(url)} answered with more than ${describeBytes(cap)}, more than a /metrics page holds`,
      );
      text = Buffer.from(bytes).toString('utf8');
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof ResponseTooLargeError) throw new SourceRejectedError(err.message, { cause: err });
      if (err instanceof InputError) throw err;
      throw new SourceUnavailableError(
        `reading the oldest retained timestamp from ${describeUrl(url)} failed: ${networkReason(err)}`,
        { cause: err },
      );
    }
    const ms = /^prometheus_tsdb_lowest_timestamp(?:\{\})? (\S+)$/m.exec(text);
    const seconds = /^prometheus_tsdb_lowest_timestamp_seconds(?:\{\})? (\S+)$/m.exec(text);
    const oldestMs = ms ? Number(ms[1]) : seconds ? Number(seconds[1]) * 1000 : NaN;
    return Number.isFinite(oldestMs) ? oldestMs : undefined;
  }

  /**
   * The metric metadata of /api/v1/metadata beside /api/v1/read; undefined when the URL is not a
   * Prometheus remote-read path or the server has no metadata API.
   */
  async metadata(signal?: AbortSignal): Promise<readonly MetricMetadata[] | undefined> {
    const url = metadataUrlBesideRead(this.url);
    if (!url) return undefined;
    let headers: Record<string, string> = { ...this.options.headers };
    if (this.headers['Authorization']) headers['Authorization'] = this.headers['Authorization'];
    if (this.options.signer) {
      headers = { ...headers, Accept: 'application/json', 'User-Agent': PRODUCT_USER_AGENT };
      headers = await this.options.signer({ method: 'GET', url: url.toString(), headers, body: '' });
    }
    return fetchPrometheusMetadata({
      url,
      endpoint: describeUrl(url),
      headers,
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
      signal,
    });
  }

  private async *readWith(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    accepted: number[],
    signal: AbortSignal | undefined,
    refreshed = false,
  ): AsyncGenerator<SeriesPiece, void, undefined> {
    if (!(window.endMs > window.startMs)) return;
    const what = `remote read from ${this.endpoint} for ${describeWindow(window)}`;
    const request = snappyCompress(
      encodeReadRequest(
        [
          {
            startTimestampMs: window.startMs,
            // Prometheus reads [start, end] inclusive; the window is half-open.
            endTimestampMs: window.endMs - 1,
            matchers: matchers.length > 0 ? matchers : ALL_SERIES,
          },
        ],
        accepted,
      ),
    );
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const deadline = new Deadline(controller, this.timeoutMs);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let finished = false;

    const failure = (err: unknown): unknown => {
      if (signal?.aborted) return signal.reason;
      if (
        err instanceof SourceRejectedError ||
        err instanceof SourceUnavailableError ||
        err instanceof ResponseTooLargeError ||
        err instanceof InputError
      )
        return err;
      if (deadline.expired) {
        return new SourceUnavailableError(
          `${what} timed out: no data for ${this.timeoutMs} ms; to wait longer: ${this.options.timeoutSetting ?? '--timeout'}`,
          { cause: err },
        );
      }
      if (err instanceof CorruptFrameError) {
        return new SourceUnavailableError(`${what} failed: ${err.message}`, { cause: err });
      }
      if (err instanceof DecodeError) {
        return new SourceRejectedError(`${what} failed: the answer does not decode: ${err.message}`, { cause: err });
      }
      return new SourceUnavailableError(`${what} failed: ${networkReason(err)}`, { cause: err });
    };

    try {
      let response: Response;
      const { signer } = this.options;
      const headers = signer
        ? await signer({ method: 'POST', url: this.url, headers: this.headers, body: request })
        : this.headers;
      deadline.arm();
      try {
        response = await this.fetchImpl(this.url, {
          method: 'POST',
          headers,
          body: request,
          signal: controller.signal,
        });
      } finally {
        deadline.disarm();
      }
      if (response.body) reader = response.body.getReader();
      const chunks = this.bodyChunks(reader, deadline);

      if (!response.ok) {
        const text = await this.readErrorBody(chunks);
        if ((response.status === 401 || response.status === 403) && this.options.refreshCredentials && !refreshed) {
          // A secret rotated since it was read gets one more try, once per request.
          const fresh = await this.options.refreshCredentials();
          this.headers = this.headersWith({ headers: this.options.headers, ...fresh });
          yield* this.readWith(window, matchers, accepted, signal, true);
          finished = true;
          return;
        }
        const message = `${what} failed: HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}: ${quoteBody(text)}`;
        if (response.status >= 500 || response.status === 429 || response.status === 408) {
          throw new SourceUnavailableError(message);
        }
        throw new SourceRejectedError(
          sentences(message, hintFor(response.status, text, this.input, this.options.signer !== undefined)),
        );
      }

      const contentType = response.headers.get('content-type') ?? '';
      const stats = newReadStats();
      const pieceOptions = { onUnsupportedChunk: this.options.onUnsupportedChunk };
      if (contentType.startsWith(STREAMED_PREFIX)) {
        if (!/proto=prometheus\.ChunkedReadResponse/.test(contentType) && contentType.includes('proto=')) {
          throw new SourceRejectedError(`${what} failed: unexpected streamed message type in ${contentType}`);
        }
        const maxFrame = this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
        for await (const piece of piecesFromStream(chunks, window, maxFrame, pieceOptions, stats)) {
          yield piece;
        }
        this.options.onReadDone?.({ window, responseType: 'streamed', stats });
      } else {
        if (!contentType.startsWith(CONTENT_TYPE_PROTOBUF) && contentType !== '') {
          const text = await this.readErrorBody(chunks);
          throw new SourceRejectedError(
            sentences(
              `${what} failed: the answer is ${contentType}, not remote-read protobuf: ${quoteBody(text)}`,
              `Check that ${this.input.flag} points at Prometheus`,
            ),
          );
        }
        const maxBytes = this.options.maxResponseBytes ?? RESPONSE_CAPS.samplesBytes;
        const raise = this.options.maxResponseSetting ?? '--max-response-bytes';
        const tooLarge = (cap: number) =>
          `${what} failed: the SAMPLES answer is larger than ${describeBytes(cap)}, the most promvault holds of one ` +
          `read: use shorter shards (--shard-length, or shardLength in cdk.json)${raise ? ` or raise ${raise}` : ''}`;
        const compressed = await readCapped(chunks, maxBytes, tooLarge);
        if (snappyUncompressedLength(compressed) > maxBytes)
          throw new ResponseTooLargeError(tooLarge(maxBytes), maxBytes);
        stats.frameBytes = compressed.length;
        const results = decodeReadResponse(snappyUncompress(compressed, maxBytes));
        if (results.length > 1) throw new DecodeError(`${results.length} query results for 1 query`);
        const result = results[0];
        if (result) {
          if (result.skippedHistograms > 0 && !this.options.onUnsupportedChunk) {
            throw new DecodeError(
              `the answer holds ${result.skippedHistograms} native histogram samples; promvault backs up float samples only`,
            );
          }
          // Prometheus selects SAMPLES answers unsorted (streamed ones sorted); this one is in
          // memory anyway, so yield it in label-set order like a streamed answer.
          for (const series of [...result.series].sort((a, b) => compareLabels(a.labels, b.labels))) {
            const piece = trimPiece(series, window);
            if (!piece) continue;
            stats.samples += piece.timestamps.length;
            yield piece;
          }
        }
        this.options.onReadDone?.({ window, responseType: 'samples', stats });
      }
      finished = true;
    } catch (err) {
      throw failure(err);
    } finally {
      deadline.disarm();
      signal?.removeEventListener('abort', onAbort);
      if (!finished) {
        // Stopped early (error or the consumer broke off): drop the connection.
        reader?.cancel().catch(() => undefined);
        controller.abort();
      }
    }
  }

  /** The body chunks, with the deadline armed only while waiting for the server. */
  private async *bodyChunks(
    reader: ReadableStreamDefaultReader<Uint8Array> | undefined,
    deadline: Deadline,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    if (!reader) return;
    for (;;) {
      deadline.arm();
      let result: Awaited<ReturnType<typeof reader.read>>;
      try {
        result = await reader.read();
      } finally {
        deadline.disarm();
      }
      if (result.done) return;
      if (result.value.length > 0) yield result.value;
    }
  }

  private async readErrorBody(chunks: AsyncIterable<Uint8Array>): Promise<string> {
    const parts: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const c of chunks) {
        parts.push(c);
        size += c.length;
        if (size > 4096) break;
      }
    } catch {
      // The status says enough.
    }
    return Buffer.concat(parts).toString('utf8');
  }
}
