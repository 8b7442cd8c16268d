/**
 * Prometheus remote write 1.0 over HTTP: snappy-compressed protobuf WriteRequest, retried with
 * backoff on 5xx, 429, timeouts and resets; permanent rejections end at once with the fix.
 */
import { Scratch } from '../core/prom/prompb';
import { withRequestBody } from '../core/restore/write';
import { TargetProbeError, TargetRejectedDataError, TargetRejectedError, TargetUnavailableError } from '../core/errors';
import { foreignBody, judgeProbe } from '../core/restore/probe';
import type { RemoteWriter, WriteBatch } from '../core/ports';
import { describeLabels } from '../core/labels';
import { PRODUCT_USER_AGENT } from '../core/version';
import type { Labels } from '../core/types';
import { fetchPost, nodeHttpPost, type HttpPost, type PostResponse } from './http-post';
import {
  backoffMs,
  DEFAULT_RETRY,
  describeNetworkError,
  isNetworkError,
  retryAfterMs,
  sleep,
  type RetryPolicy,
} from './http-retry';
import {
  authHeaders,
  checkOneAuthorization,
  SIGNED_REFUSAL_FIX,
  type HttpCredentials,
  type RequestSigner,
} from './http-auth';

export interface RemoteWriteOptions {
  readonly url: string;
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
  /** Extra headers, e.g. X-Scope-OrgID for Mimir/Cortex tenants. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Longest wait for one answer. @default 30 s */
  readonly timeoutMs?: number;
  /** How a user changes timeoutMs, named when a request times out. @default '--target-timeout' */
  readonly timeoutSetting?: string;
  readonly retry?: RetryPolicy;
  /** Requests go out over node:http(s) with keep-alive, or through this fetch (e.g. a test double). */
  readonly fetchImpl?: typeof fetch;
  /** Signs each attempt (SigV4 for Amazon Managed Prometheus): the body is signed as sent. */
  readonly signer?: RequestSigner;
  /** Re-reads the credentials (e.g. a rotated secret); called once when the target answers 401/403. */
  readonly refreshCredentials?: () => Promise<HttpCredentials>;
}

/** The URL without user info, and the user info as basic auth (an explicit basicAuth wins). */
export function splitUserInfo(text: string): { url: string; basicAuth?: HttpCredentials['basicAuth'] } {
  const url = new URL(text);
  if (!url.username && !url.password) return { url: text };
  const basicAuth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  url.username = '';
  url.password = '';
  return { url: url.toString(), basicAuth };
}

/** What a rejection means and what the user must change. */
export function explainRejection(status: number, body: string, signed = false): string {
  if (/too old sample/i.test(body)) {
    return "the target's out-of-order window does not reach back this far: set storage.tsdb.out_of_order_time_window in its config (e.g. '30d', at least the age of the oldest restored sample) and reload it";
  }
  if (/out of bounds|out of order sample/i.test(body)) {
    return 'the target only accepts samples newer than its head block: enable storage.tsdb.out_of_order_time_window (e.g. 30d) in its config, or restore into an empty Prometheus, or export OpenMetrics and backfill with promtool';
  }
  if (/remote write receiver/i.test(body) || status === 404) {
    return 'the URL does not accept remote write: check --target (Prometheus needs --web.enable-remote-write-receiver and the path /api/v1/write)';
  }
  if (status === 401 || status === 403)
    return signed
      ? `the target refused the signed request: ${SIGNED_REFUSAL_FIX} (aps:RemoteWrite on the workspace)`
      : 'the target refused the credentials: check the auth flags';
  if (status === 413) return 'the request is too large for the target: lower --batch-samples';
  return 'the target rejects this data; see its message above';
}

/**
 * A 4xx about the samples themselves (a value or a duplicate the target will not store), as
 * opposed to the URL, the credentials, the size or a range the target refuses as a whole.
 */
export function isDataRejection(status: number, body: string): boolean {
  if (status !== 400 && status !== 422) return false;
  if (/too old sample|out of bounds|out of order sample|remote write receiver/i.test(body)) return false;
  return foreignBody({ status, contentType: null, body }) !== 'an HTML page';
}

/** What a request carries, for error messages. */
export interface RequestSummary {
  readonly samples: number;
  readonly firstLabels?: Labels;
}

export class HttpRemoteWriter implements RemoteWriter {
  readonly endpoint: string;
  private readonly post: HttpPost;
  private readonly retry: RetryPolicy;
  private baseHeaders: Record<string, string>;
  private readonly scratch = new Scratch();

  constructor(private readonly options: RemoteWriteOptions) {
    // User info in the URL becomes an Authorization header: the URL itself appears in messages.
    const { url, basicAuth } = splitUserInfo(options.url);
    this.endpoint = url;
    checkOneAuthorization({ ...options, basicAuth: options.basicAuth ?? basicAuth }, `the target ${url}`);
    this.post = options.fetchImpl ? fetchPost(options.fetchImpl) : nodeHttpPost();
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.baseHeaders = this.headersWith({ ...options, basicAuth: options.basicAuth ?? basicAuth });
  }

  private headersWith(credentials: HttpCredentials): Record<string, string> {
    return {
      'Content-Encoding': 'snappy',
      'Content-Type': 'application/x-protobuf',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      'User-Agent': PRODUCT_USER_AGENT,
      ...authHeaders(credentials),
    };
  }

  prepare(batch: WriteBatch): WriteBatch {
    return withRequestBody(batch, this.scratch);
  }

  async write(batch: WriteBatch, signal?: AbortSignal): Promise<void> {
    const prepared = this.prepare(batch);
    await this.send(prepared.body!, { samples: prepared.samples, firstLabels: prepared.firstLabels }, signal);
  }

  /**
   * Sends an empty WriteRequest, which stores nothing, and judges the answer: rejects with
   * TargetProbeError when the URL is no remote-write receiver that accepts these credentials,
   * with TargetUnavailableError when it stays down.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    const body = this.prepare({ series: [], samples: 0 }).body!;
    const lastProblem = await this.postUntilAnswered(body, signal, (res) => {
      const judged = judgeProbe({ status: res.status, contentType: res.header('content-type'), body: res.text });
      if (judged.verdict === 'refused') {
        throw new TargetProbeError(
          `the target ${this.endpoint} is not a remote-write receiver that accepts this restore: ${judged.problem}. Nothing was written. Fix: ${judged.fix}`,
        );
      }
      return judged.verdict === 'receiver';
    });
    if (lastProblem === undefined) return;
    throw new TargetUnavailableError(
      `the target ${this.endpoint} did not answer an empty remote-write request after ${this.retry.attempts} attempts, last: ${lastProblem}. Nothing was written. Check that the target is up and the URL is right`,
    );
  }

  /**
   * Sends one encoded, snappy-compressed WriteRequest with the retry policy. The benchmark's
   * replay baseline sends its pre-built requests through here, so both pay the same transport.
   */
  async send(body: Uint8Array, about: RequestSummary, signal?: AbortSignal): Promise<void> {
    // Formatted only for messages: a request that succeeds never pays for it.
    const first = () => (about.firstLabels ? describeLabels(about.firstLabels) : '(none)');
    const lastProblem = await this.postUntilAnswered(body, signal, (res) => {
      const text = res.text.trim().slice(0, 500);
      if (res.status >= 200 && res.status < 300) {
        const foreign = foreignBody({ status: res.status, contentType: res.header('content-type'), body: text });
        if (!foreign) return true;
        throw new TargetRejectedError(
          `remote write to ${this.endpoint} answered HTTP ${res.status} with ${foreign}, which no remote-write receiver sends: the samples were not stored (first series in the request: ${first()}, ${about.samples} samples). Fix: check --target, it must be the remote-write URL`,
          res.status,
          text,
        );
      }
      const permanentTooOld = /too old sample/i.test(text);
      if (permanentTooOld || (res.status < 500 && res.status !== 429)) {
        const Rejected = isDataRejection(res.status, text) ? TargetRejectedDataError : TargetRejectedError;
        throw new Rejected(
          `remote write to ${this.endpoint} was rejected with HTTP ${res.status}: ${text || res.statusText} (first series in the request: ${first()}, ${about.samples} samples). Fix: ${explainRejection(res.status, text, this.options.signer !== undefined)}`,
          res.status,
          text,
        );
      }
      return false;
    });
    if (lastProblem === undefined) return;
    throw new TargetUnavailableError(
      `remote write to ${this.endpoint} failed ${this.retry.attempts} times, last: ${lastProblem} (first series in the request: ${first()}). Check that the target is up and accepts remote write`,
    );
  }

  /**
   * POSTs `body` until `settled` takes an answer (true) or throws; 5xx, 429 and network faults
   * (false) are retried with backoff. Returns undefined when settled, else the last problem.
   */
  private async postUntilAnswered(
    body: Uint8Array,
    signal: AbortSignal | undefined,
    settled: (res: PostResponse) => boolean,
  ): Promise<string | undefined> {
    const { signer } = this.options;
    let refreshed = false;
    let lastProblem = '';
    for (let attempt = 0; attempt < this.retry.attempts; attempt++) {
      let waitMs: number | undefined;
      try {
        // Signed per attempt: a signature carries its time, and a retry may come minutes later.
        const headers = signer
          ? await signer({ method: 'POST', url: this.endpoint, headers: this.baseHeaders, body })
          : this.baseHeaders;
        const res = await this.post(this.endpoint, {
          headers,
          body,
          timeoutMs: this.options.timeoutMs ?? 30_000,
          signal,
        });
        if ((res.status === 401 || res.status === 403) && this.options.refreshCredentials && !refreshed) {
          // A secret rotated since it was read gets one more try, once per request, at once.
          refreshed = true;
          const fresh = await this.options.refreshCredentials();
          this.baseHeaders = this.headersWith({ headers: this.options.headers, ...fresh });
          attempt--;
          continue;
        }
        if (settled(res)) return undefined;
        lastProblem = `HTTP ${res.status}: ${res.text.trim().slice(0, 500) || res.statusText}`;
        waitMs = retryAfterMs(res.header('retry-after'), Date.now());
      } catch (err) {
        if (err instanceof TargetRejectedError || err instanceof TargetProbeError) throw err;
        if (signal?.aborted) throw err;
        if (!isNetworkError(err)) throw err;
        lastProblem = describeNetworkError(err);
        if ((err as Error).name === 'TimeoutError')
          lastProblem += ` (to wait longer: ${this.options.timeoutSetting ?? '--target-timeout'})`;
      }
      if (attempt + 1 < this.retry.attempts) {
        await sleep(Math.min(this.retry.maxDelayMs, waitMs ?? backoffMs(this.retry, attempt)), signal);
      }
    }
    return lastProblem;
  }
}
