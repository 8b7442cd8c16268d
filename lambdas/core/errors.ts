/**
 * Error classes of the core. Their names are what Step Functions Retry/Catch match on:
 * TransientError subclasses are worth retrying, PermanentError subclasses are not.
 */

export class PromvaultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Retrying the same call later may succeed (5xx, 429, timeouts, resets). */
export class TransientError extends PromvaultError {}

/** Retrying will not help until someone changes something; the message says what. */
export class PermanentError extends PromvaultError {}

/** Bad user input: a flag, a selector, a time, a config value. Raised before any work starts. */
export class InputError extends PermanentError {}

export class ObjectNotFoundError extends PermanentError {
  constructor(
    readonly key: string,
    location: string,
  ) {
    super(`object ${key} not found in ${location}`);
  }
}

/** Stored bytes do not match their manifest, or do not decode. */
export class CorruptShardError extends PermanentError {}

export class SourceUnavailableError extends TransientError {}
export class SourceRejectedError extends PermanentError {}
/** Before the first read: the source refused the URL or the credentials the user gave (bad input). */
export class SourceProbeError extends SourceRejectedError {}

export class TargetUnavailableError extends TransientError {}
/**
 * The target refused a request. `status` and `body` are its answer (body trimmed and capped),
 * so a caller can tell a rejection of the data from one of the URL or the credentials.
 */
export class TargetRejectedError extends PermanentError {
  constructor(
    message: string,
    readonly status = 0,
    readonly body = '',
  ) {
    super(message);
  }
}

/** The target rejected the samples of a request, not the request itself: smaller requests may land. */
export class TargetRejectedDataError extends TargetRejectedError {}

/** Before the first sample: the target is not a remote-write receiver that accepts us (HTML, 404, auth). */
export class TargetProbeError extends InputError {}

/** A conditional write found another version than expected: someone else wrote first. */
export class PreconditionFailedError extends PermanentError {
  constructor(
    readonly key: string,
    location: string,
  ) {
    super(`${key} in ${location} was changed by another run at the same time`);
  }
}

/**
 * An answer longer than the most promvault reads of it. Permanent: the same request gets the
 * same answer; the message names the endpoint, the shard and the setting that changes the cap.
 */
export class ResponseTooLargeError extends PermanentError {
  constructor(
    message: string,
    readonly capBytes: number,
  ) {
    super(message);
  }
}

/**
 * Joins message parts into sentences, each ending in one period: a part that already ends in
 * one (a server's text, a hint) does not get a second.
 */
export function sentences(...parts: readonly (string | undefined)[]): string {
  return parts
    .map((p) => p?.trim())
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => (/[.!?…]$/.test(p) ? p : `${p}.`))
    .join(' ');
}
