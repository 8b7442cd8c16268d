/**
 * The only ways the core touches the world. Adapters in lambdas/adapters implement them.
 */
import type { LabelMatcher, Labels, MetricMetadata, SeriesPiece, TimeWindow } from './types';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** Last modification, epoch ms: only from list with `modified` (gc needs it). */
  readonly modifiedMs?: number;
}

export interface ListOptions {
  readonly modified?: boolean;
}

/** A small object read whole, with the tag a conditional write compares against. */
export interface VersionedObject {
  readonly bytes: Uint8Array;
  /** Opaque: equal tags mean the same stored version. */
  readonly etag: string;
}

export interface PutResult {
  readonly size: number;
  /** Hex SHA-256 of the bytes stored. */
  readonly sha256: string;
}

/** Keys are '/'-separated, relative to the store's root (directory or s3://bucket/prefix). */
export interface ObjectStore {
  /** A description for messages, e.g. "s3://bucket/prefix" or "/var/backups". */
  readonly location: string;
  /**
   * Streams `body` to `key`. The object becomes visible only once complete: a failed put
   * leaves nothing readable at `key` and does not touch an object already there.
   */
  put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult>;
  /** Streams the object; rejects with ObjectNotFoundError when absent. */
  get(key: string): AsyncIterable<Uint8Array>;
  /** Size of the object, or undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every key under `prefix`, in lexicographic order; with `modified`, each with its modifiedMs. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /** Reads a small object whole with its etag; undefined when absent. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Writes `bytes` to `key` only if the stored object is still the version `expectedEtag` names
   * (undefined: only if there is none); otherwise rejects with PreconditionFailedError and
   * leaves the object as it is. The compare and the write are one atomic step.
   */
  putIfMatch(key: string, bytes: Uint8Array, expectedEtag: string | undefined): Promise<{ readonly etag: string }>;
  /**
   * Optional: temporary files of puts that never finished (a killed process), which list never
   * shows, as keys relative to the root. Stores without such files (S3: an unfinished multipart
   * upload is not an object) leave it out.
   */
  listTemporary?(): AsyncIterable<ObjectInfo>;
  /** Removes a temporary file listTemporary reported. */
  deleteTemporary?(key: string): Promise<void>;
  /**
   * For commands that write: fails with a message that says what to fix when the store cannot be
   * written (missing bucket, no permission). May create a missing directory store.
   */
  check(): Promise<void>;
  /**
   * For commands that only read: fails with a message that says what to fix when the store cannot
   * be read (missing, not a directory, no permission). Writes and creates nothing, so a read-only
   * copy or read-only credentials pass.
   */
  checkReadable(): Promise<void>;
}

export interface ReadOptions {
  /** Abort the read, e.g. when the caller stops consuming. */
  readonly signal?: AbortSignal;
  /** Called once when a read of several replicas ends, with what the caller must record. */
  readonly onOutcome?: (outcome: ReadOutcome) => void;
}

/** How a read of HA replicas went: where the samples came from and what is missing. */
export interface ReadOutcome {
  /** The replicas whose samples the read holds. */
  readonly pulledFrom: readonly string[];
  /** Replicas that did not answer, each with the reason: the read may hold less than the source. */
  readonly missingReplicas: readonly string[];
  /** Samples at one timestamp whose values differed between replicas (the first replica's is kept). */
  readonly conflictingSamples: number;
}

/** Pulls raw samples of one window from a Prometheus-compatible source. */
export interface PrometheusReader {
  /** A description for messages, e.g. the remote-read URL. */
  readonly endpoint: string;
  /**
   * Every sample with startMs <= t < endMs of every series matching all matchers. Pieces of
   * one series arrive consecutively, in time order; series arrive in the source's order, which
   * for Prometheus is label-set order (compareLabels): the replica merge relies on it and checks it.
   */
  read(window: TimeWindow, matchers: readonly LabelMatcher[], options?: ReadOptions): AsyncIterable<SeriesPiece>;
  /**
   * Optional: the oldest sample timestamp the source retains (ms), or undefined when it cannot
   * tell; a replica that starts after a window cannot serve all of it.
   */
  oldestTimestamp?(signal?: AbortSignal): Promise<number | undefined>;
  /**
   * Optional: the metric metadata of every family the source knows (several entries for one
   * family when its targets disagree); the shard encoder keeps those of the series it stores.
   * Undefined when the source offers none; rejects (SourceUnavailableError, SourceRejectedError)
   * when it offers metadata but cannot answer.
   */
  metadata?(signal?: AbortSignal): Promise<readonly MetricMetadata[] | undefined>;
}

/** Fetches the newest sample of every matching series, as Prometheus' /federate answers. */
export interface FederateScraper {
  /** A description for messages, e.g. the /federate URL. */
  readonly endpoint: string;
  /**
   * The exposition text (format 0.0.4) of every series matching `selector` ('' for every
   * series); rejects with SourceUnavailableError (worth another try) or SourceRejectedError.
   */
  scrape(selector: string, signal?: AbortSignal): Promise<string>;
}

export interface WriteBatch {
  /** Empty once the batch is prepared: queued requests hold their bodies, not the decoded samples. */
  readonly series: readonly SeriesPiece[];
  readonly samples: number;
  /** The request body, when the writer prepared it ahead of sending. */
  readonly body?: Uint8Array;
  /** The first series' labels, for messages about a prepared batch. */
  readonly firstLabels?: Labels;
}

/** Sends samples to a remote-write endpoint. */
export interface RemoteWriter {
  readonly endpoint: string;
  /**
   * Optional: encodes a batch when it is cut, so that a lane's next request is ready the moment
   * its previous one returns; write() then receives the batch with its body.
   */
  prepare?(batch: WriteBatch): WriteBatch;
  /**
   * Optional: checks, without storing a sample, that the endpoint is a receiver that accepts
   * this writer; rejects with TargetProbeError (bad input) or TargetUnavailableError.
   */
  probe?(signal?: AbortSignal): Promise<void>;
  /**
   * Resolves once the target accepted the batch; rejects with TargetRejectedError (its subclass
   * TargetRejectedDataError when the samples, not the request, were refused) or TargetUnavailableError.
   */
  write(batch: WriteBatch, signal?: AbortSignal): Promise<void>;
}
