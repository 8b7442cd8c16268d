/**
 * Redaction for everything printed, logged or stored: user info in any URL is removed, and every
 * value registered as a secret (a password, a token, a header value, and the encodings they
 * travel in) is replaced wherever it appears, so an error text that quotes one is safe too.
 * Applied at the edges (CLI output, the Lambda logger, reports), not at each call site.
 */

export const REDACTED = '[redacted]';

/** `scheme://user:pass@`: the user info runs to the last '@' before the authority ends. */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#\\'"<>`]*@/gi;

/**
 * A SigV4 signature (in an Authorization header or a presigned URL's X-Amz-Signature): one
 * request's proof of the secret key, replayable for minutes, so never shown.
 */
const SIGV4_SIGNATURE = /\b((?:X-Amz-)?Signature=)[0-9a-f]{64}\b/gi;

/** Shorter values are not registered: replacing them would blank out ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** The URL without its user info; any other text with the user info of every URL in it removed. */
export function redactUrl(text: string): string {
  return text.replace(URL_USER_INFO, '$1');
}

export class Redactor {
  private readonly secrets = new Set<string>();
  /** Longest first, so a secret that contains another is replaced whole. */
  private ordered: string[] = [];

  /** Registers a secret and the forms it is sent or printed in (URL-encoded, JSON-escaped). */
  add(value: string | undefined): void {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) return;
    const forms = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
    for (const f of forms) this.secrets.add(f);
    this.ordered = [...this.secrets].sort((a, b) => b.length - a.length);
  }

  /** Registers basic-auth credentials, including the base64 form an Authorization header carries. */
  addBasicAuth(username: string, password: string): void {
    this.add(password);
    this.add(Buffer.from(`${username}:${password}`, 'utf8').toString('base64'));
  }

  text(text: string): string {
    let out = redactUrl(text).replace(SIGV4_SIGNATURE, `$1${REDACTED}`);
    for (const s of this.ordered) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /** A copy of a JSON-like value with every string redacted (keys too: a secret may be a key). */
  value(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth > 16) return '[nested]';
    if (value instanceof Error) return { name: value.name, message: this.text(value.message) };
    if (Array.isArray(value)) return value.map((v) => this.value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[this.text(k)] = this.value(v, depth + 1);
    return out;
  }
}

/**
 * The process's secrets: whoever reads one (CLI flags and files, Secrets Manager) registers it
 * here, and every output edge redacts with it.
 */
export const secrets = new Redactor();
