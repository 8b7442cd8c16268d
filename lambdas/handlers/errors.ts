/**
 * Errors of the Lambda layer. Step Functions Retry/Catch match on these names: a timeout is
 * transient (the retry gets a fresh 15 minutes), failed shards are permanent for this run.
 */
import { PermanentError, TransientError } from '../core/errors';

/** The work did not finish before the Lambda's own timeout; it was aborted so a retry can start clean. */
export class ShardTimeoutError extends TransientError {}

/** Some planned shards have no manifest after the Map; the checkpoint was committed up to the first gap. */
export class ShardsFailedError extends PermanentError {
  constructor(
    readonly source: string,
    readonly missing: readonly string[],
    message: string,
  ) {
    super(message);
  }
}

/** A federate capture missed fetches or left a compaction undone; what it captured is committed. */
export class CaptureIncompleteError extends PermanentError {}
