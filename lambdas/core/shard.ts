/**
 * What a shard is and where it lives. The manifest key is a pure function of source, window,
 * matchers and format version, so a re-run finds exactly the same manifest; the manifest names
 * its object (`object_key`).
 *
 * Layout under the store root:
 *   shards/<source>/<YYYY>/<MM>/<DD>/<name>.v<version>.pvs               the object of a first backup
 *   shards/<source>/<YYYY>/<MM>/<DD>/<name>.<generation>.v<version>.pvs  the object of a re-run
 *   manifests/<source>/<YYYY>/<MM>/<DD>/<name>.v<version>.json           its manifest (commit marker)
 *   checkpoints/<source>.json                                            newest contiguous committed end
 *   snapshots/<source>/<name>/<fetchedISO>-<nonce>.{pvs,json}            federate snapshots awaiting compaction
 * where <name> is <startISO>_<lengthMs>_<selectorHash>. A re-run writes its object beside the
 * committed one, never over it, so that the manifest write alone switches a shard to new data.
 * Manifests are partitioned by UTC day of the window start, so finding the shards of a range
 * lists only the days it covers: the manifest tree is the catalog.
 */
import { createHash } from 'node:crypto';
import { InputError } from './errors';
import type { LabelMatcher, TimeWindow } from './types';

export const FORMAT_VERSION = 1;

export interface ShardRef {
  readonly source: string;
  readonly window: TimeWindow;
  /** Canonical selector string ('' for everything), as formatSelector() writes it. */
  readonly selector: string;
}

export interface ShardManifest {
  readonly format_version: number;
  readonly source: string;
  readonly start_ms: number;
  readonly end_ms: number;
  readonly selector: string;
  readonly object_key: string;
  readonly series: number;
  readonly samples: number;
  /** null when the shard holds no samples. */
  readonly min_ts: number | null;
  readonly max_ts: number | null;
  /** Bytes of the encoded stream before compression. */
  readonly raw_bytes: number;
  /** Bytes of the stored object. */
  readonly stored_bytes: number;
  readonly codec: string;
  /** Hex SHA-256 of the stored object. */
  readonly sha256: string;
  /** False when the window was still open at pull time: such a shard is pulled again by the next run. */
  readonly complete: boolean;
  readonly created_at: string;
  /** The endpoint the samples came from; HA replicas merged: every replica that answered, comma-separated. */
  readonly pulled_from: string;
  /** HA replicas merged: samples at one timestamp whose values differed (the first replica's kept). */
  readonly conflicting_samples?: number;
  /** HA replicas that did not answer, with the reason: the shard is incomplete and pulled again. */
  readonly missing_replicas?: readonly string[];
  /** Metric families whose metadata (# TYPE, # HELP, # UNIT) the object holds; absent when none. */
  readonly metadata_families?: number;
  /** Why the source's metric metadata could not be read: the shard is incomplete and pulled again. */
  readonly metadata_missing?: string;
}

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function validateSourceName(name: string): string {
  if (!SOURCE_NAME.test(name)) {
    throw new InputError(
      `source name ${JSON.stringify(name)} is not usable in object keys: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

function selectorHash(selector: string): string {
  return selector === '' ? 'all' : createHash('sha256').update(selector).digest('hex').slice(0, 12);
}

function datePath(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}`;
}

function shardName(ref: ShardRef): string {
  const start = new Date(ref.window.startMs).toISOString().replace(/[:.]/g, '');
  return `${start}_${ref.window.endMs - ref.window.startMs}_${selectorHash(ref.selector)}`;
}

/** A generation of an object key: lowercase letters, digits and '-'. */
const GENERATION = /^[0-9a-z][0-9a-z-]*$/;

/** The object key of a shard's first backup. */
export function objectKey(ref: ShardRef): string {
  return objectKeyOf(ref, '');
}

/** The object key a re-run writes beside the committed object; `generation` makes it unique. */
export function rerunObjectKey(ref: ShardRef, generation: string): string {
  if (!GENERATION.test(generation)) {
    throw new Error(`object key generation ${JSON.stringify(generation)} is not lowercase letters, digits and '-'`);
  }
  return objectKeyOf(ref, `.${generation}`);
}

function objectKeyOf(ref: ShardRef, tag: string): string {
  return `shards/${ref.source}/${datePath(ref.window.startMs)}/${shardName(ref)}${tag}.v${FORMAT_VERSION}.pvs`;
}

/** Whether `key` is an object key of `ref`, of any generation: only such an object is ever deleted as superseded. */
export function isObjectKeyOf(ref: ShardRef, key: string): boolean {
  const first = objectKey(ref);
  if (key === first) return true;
  const suffix = `.v${FORMAT_VERSION}.pvs`;
  const stem = `${first.slice(0, -suffix.length)}.`;
  if (!key.startsWith(stem) || !key.endsWith(suffix)) return false;
  return GENERATION.test(key.slice(stem.length, key.length - suffix.length));
}

export function manifestKey(ref: ShardRef): string {
  return `manifests/${ref.source}/${datePath(ref.window.startMs)}/${shardName(ref)}.v${FORMAT_VERSION}.json`;
}

/** The manifest day prefixes that can hold shards starting in [fromMs, toMs). */
export function manifestDayPrefixes(source: string, fromMs: number, toMs: number, maxShardMs: number): string[] {
  const day = 86_400_000;
  const first = Math.floor((fromMs - maxShardMs) / day) * day;
  const out: string[] = [];
  for (let t = first; t < toMs; t += day) out.push(`manifests/${source}/${datePath(t)}/`);
  return out;
}

/** Past this many days a range is listed a month at a time. */
export const LIST_BY_MONTH_AFTER_DAYS = 62;

/**
 * The prefixes to list for the manifests of a range: its UTC days (see manifestDayPrefixes), or
 * for a range longer than LIST_BY_MONTH_AFTER_DAYS its UTC months, so that a restore of years of
 * history lists tens of prefixes instead of thousands (each a LIST request on S3).
 */
export function manifestPrefixes(source: string, fromMs: number, toMs: number, maxShardMs: number): string[] {
  const days = manifestDayPrefixes(source, fromMs, toMs, maxShardMs);
  if (days.length <= LIST_BY_MONTH_AFTER_DAYS) return days;
  // A day prefix is manifests/<source>/YYYY/MM/DD/: its month is all but the last segment.
  return [...new Set(days.map((p) => p.slice(0, p.length - 3)))];
}

/**
 * Where the snapshots of a federate capture of one shard window wait for compaction: outside
 * manifests/ and shards/, so restore, export, verify, inspect and gc never see them as shards.
 */
export function snapshotPrefix(ref: ShardRef): string {
  return `${snapshotSourcePrefix(ref.source)}${shardName(ref)}/`;
}

export function snapshotSourcePrefix(source: string): string {
  return `snapshots/${source}/`;
}

/** The object and manifest keys of one snapshot; `nonce` keeps two captures in one millisecond apart. */
export function snapshotKeys(ref: ShardRef, fetchedAtMs: number, nonce: string): { object: string; manifest: string } {
  if (!GENERATION.test(nonce))
    throw new Error(`snapshot nonce ${JSON.stringify(nonce)} is not lowercase letters, digits and '-'`);
  const base = `${snapshotPrefix(ref)}${new Date(fetchedAtMs).toISOString().replace(/[:.]/g, '')}-${nonce}`;
  return { object: `${base}.v${FORMAT_VERSION}.pvs`, manifest: `${base}.v${FORMAT_VERSION}.json` };
}

export function checkpointKey(source: string): string {
  return `checkpoints/${source}.json`;
}

export type MatchersOf = (selector: string) => LabelMatcher[];
