/**
 * Prometheus /federate over HTTP: GET /federate?match[]=<selector>, asking for the text format
 * 0.0.4 (what /federate answers by default). Network failures, timeouts, 5xx and 429 are
 * SourceUnavailableError (the next interval tries again); other answers that are not 200 are
 * SourceRejectedError. Credentials never appear in messages.
 */
import { ResponseTooLargeError, SourceProbeError, SourceRejectedError, SourceUnavailableError } from '../core/errors';
import type { FederateScraper } from '../core/ports';
import { PRODUCT_USER_AGENT } from '../core/version';
import { authHeaders, withoutUserInfo, type HttpCredentials } from './http-auth';
import { describeNetworkError } from './http-retry';
import { readCapped } from './read-capped';

/** `{__name__=~".+"}`: every series, what an empty selector means here. */
export const EVERY_SERIES = '{__name__=~".+"}';
export const DEFAULT_FEDERATE_TIMEOUT_MS = 30_000;
/** Larger answers fail the fetch: narrow --match. */
export const DEFAULT_MAX_FEDERATE_BYTES = 256 * 1024 * 1024;

export interface FederateOptions {
  /** The Prometheus base URL or its /federate URL; user:pass@ in it is used as basic auth. */
  readonly url: string;
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  readonly fetchImpl?: typeof fetch;
}

/** The /federate URL of a base URL (kept as it is when it already ends in /federate). */
export function federateUrl(base: string): URL {
  const url = new URL(base);
  if (!url.pathname.endsWith('/federate')) url.pathname = url.pathname.replace(/\/$/, '') + '/federate';
  return url;
}

export class HttpFederateScraper implements FederateScraper {
  readonly endpoint: string;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: FederateOptions) {
    const { url, basicAuth } = withoutUserInfo(federateUrl(options.url).toString(), options.basicAuth);
    this.url = url;
    this.endpoint = `${url.protocol}//${url.host}${url.pathname}`;
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.headers = {
      Accept: 'text/plain;version=0.0.4',
      'User-Agent': PRODUCT_USER_AGENT,
      ...authHeaders({ ...options, basicAuth } satisfies HttpCredentials),
    };
  }

  async scrape(selector: string, signal?: AbortSignal): Promise<string> {
    const url = new URL(this.url);
    url.searchParams.append('match[]', selector === '' ? EVERY_SERIES : selector);
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_FEDERATE_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const what = `GET ${this.endpoint}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        headers: this.headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : describeNetworkError(err);
      throw new SourceUnavailableError(`${what} failed: ${reason}`, { cause: err });
    }
    if (res.status !== 200) {
      const body = (await res.text().catch(() => '')).trim().slice(0, 300);
      const quoted = body === '' ? '(empty body)' : JSON.stringify(body);
      const message = `${what} answered HTTP ${res.status}: ${quoted}`;
      if (res.status >= 500 || res.status === 429) throw new SourceUnavailableError(message);
      const hint =
        res.status === 404
          ? ' The URL does not serve /federate: --source must be the Prometheus base URL, e.g. http://prometheus:9090.'
          : res.status === 401 || res.status === 403
            ? ' Check the credentials (--basic-auth-file, --bearer-token-file, --header).'
            : '';
      throw new SourceRejectedError(message + hint);
    }
    return await this.readCapped(res, what);
  }

  private async readCapped(res: Response, what: string): Promise<string> {
    const limit = this.options.maxResponseBytes ?? DEFAULT_MAX_FEDERATE_BYTES;
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(
        res.body,
        limit,
        (cap) =>
          `${what} answered more than ${cap} bytes: narrow the capture with --match so one answer stays below that`,
      );
    } catch (err) {
      if (err instanceof ResponseTooLargeError) throw new SourceRejectedError(err.message, { cause: err });
      throw new SourceUnavailableError(`${what} failed while reading the answer: ${describeNetworkError(err)}`, {
        cause: err,
      });
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      throw new SourceRejectedError(`${what} answered text that is not UTF-8`, { cause: err });
    }
  }

  /** Checks that the URL serves /federate (a fetch that matches nothing), before any work starts. */
  async probe(): Promise<void> {
    try {
      await this.scrape('{__name__="promvault_probe_matches_nothing"}');
    } catch (err) {
      // Refused before any work: the URL or credentials given are wrong (bad input, exit 2).
      if (err instanceof SourceRejectedError) throw new SourceProbeError(err.message, { cause: err });
      throw err;
    }
  }
}
