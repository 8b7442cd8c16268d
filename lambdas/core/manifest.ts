/**
 * Shard manifests: the commit markers, and together the catalog of a store.
 *
 * A manifest is pretty-printed JSON with a fixed key order and a trailing newline, so the
 * same manifest always serializes to the same bytes. Parsing validates every field: a
 * manifest that does not describe a plausible shard is a CorruptShardError naming the key and
 * the field, never a half-valid object that fails later.
 */
import { CorruptShardError, InputError, ObjectNotFoundError } from './errors';
import { mapPool } from './pool';
import type { ObjectStore } from './ports';
import { FORMAT_VERSION, manifestPrefixes, validateSourceName, type ShardManifest } from './shard';

/** Manifests are a few hundred bytes; anything this large is not one. */
const MAX_MANIFEST_BYTES = 1 << 20;
/** Manifest reads in flight while listing. */
const LIST_CONCURRENCY = 16;

const FIELD_ORDER: readonly (keyof ShardManifest)[] = [
  'format_version',
  'source',
  'start_ms',
  'end_ms',
  'selector',
  'object_key',
  'series',
  'samples',
  'min_ts',
  'max_ts',
  'raw_bytes',
  'stored_bytes',
  'codec',
  'sha256',
  'complete',
  'created_at',
  'pulled_from',
  'conflicting_samples',
  'missing_replicas',
  'metadata_families',
  'metadata_missing',
];

/** Stable bytes for a manifest: fixed key order, two-space indent, trailing newline. */
export function serializeManifest(m: ShardManifest): Uint8Array {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELD_ORDER) ordered[field] = m[field];
  return new TextEncoder().encode(JSON.stringify(ordered, null, 2) + '\n');
}

/** Validates `bytes` as a manifest; `key` names it in errors. */
export function parseManifest(bytes: Uint8Array, key: string): ShardManifest {
  const fail = (what: string, cause?: unknown) =>
    new CorruptShardError(`manifest ${key} is corrupt: ${what}`, cause === undefined ? undefined : { cause });

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw fail('it is not UTF-8 text', err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw fail(`it is not JSON (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fail('it is not a JSON object');
  const o = doc as Record<string, unknown>;

  const describe = (v: unknown) => (v === undefined ? 'missing' : JSON.stringify(v));
  const int = (field: string, min = Number.MIN_SAFE_INTEGER): number => {
    const v = o[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw fail(`field ${field} is ${describe(v)}, expected ${min === 0 ? 'a non-negative' : 'an'} integer`);
    }
    return v;
  };
  const intOrNull = (field: string): number | null => (o[field] === null ? null : int(field));
  const str = (field: string, nonEmpty: boolean): string => {
    const v = o[field];
    if (typeof v !== 'string' || (nonEmpty && v === '')) {
      throw fail(`field ${field} is ${describe(v)}, expected a ${nonEmpty ? 'non-empty ' : ''}string`);
    }
    return v;
  };

  const format_version = int('format_version', 1);
  if (format_version > FORMAT_VERSION) {
    throw fail(
      `field format_version is ${format_version}, newer than the ${FORMAT_VERSION} this promvault reads: upgrade promvault`,
    );
  }
  const source = str('source', true);
  try {
    validateSourceName(source);
  } catch (err) {
    throw fail(`field source ${JSON.stringify(source)} is not a valid source name`, err);
  }
  const start_ms = int('start_ms');
  const end_ms = int('end_ms');
  if (end_ms <= start_ms) throw fail(`field end_ms ${end_ms} is not after start_ms ${start_ms}`);
  const selector = str('selector', false);
  const object_key = str('object_key', true);
  const series = int('series', 0);
  const samples = int('samples', 0);
  const min_ts = intOrNull('min_ts');
  const max_ts = intOrNull('max_ts');
  if (samples === 0 && (min_ts !== null || max_ts !== null)) {
    throw fail('fields min_ts and max_ts must be null when samples is 0');
  }
  if (samples > 0) {
    if (min_ts === null || max_ts === null)
      throw fail(`fields min_ts and max_ts must be integers when samples is ${samples}`);
    if (min_ts > max_ts) throw fail(`field min_ts ${min_ts} is after max_ts ${max_ts}`);
    if (min_ts < start_ms || max_ts >= end_ms) {
      throw fail(`fields min_ts ${min_ts} and max_ts ${max_ts} are outside the window [${start_ms}, ${end_ms})`);
    }
    if (series === 0) throw fail(`field series is 0 but samples is ${samples}`);
  }
  const raw_bytes = int('raw_bytes', 0);
  const stored_bytes = int('stored_bytes', 0);
  const codec = str('codec', true);
  const sha256 = str('sha256', true);
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw fail(`field sha256 ${JSON.stringify(sha256)} is not 64 lowercase hex digits`);
  const complete = o['complete'];
  if (typeof complete !== 'boolean') throw fail(`field complete is ${describe(complete)}, expected true or false`);
  const created_at = str('created_at', true);
  if (Number.isNaN(Date.parse(created_at))) throw fail(`field created_at ${JSON.stringify(created_at)} is not a time`);
  const pulled_from = str('pulled_from', false);
  const conflicting_samples = o['conflicting_samples'] === undefined ? undefined : int('conflicting_samples', 0);
  const missing = o['missing_replicas'];
  if (missing !== undefined && !(Array.isArray(missing) && missing.every((m) => typeof m === 'string'))) {
    throw fail(`field missing_replicas is ${describe(missing)}, expected a list of strings`);
  }
  const metadata_families = o['metadata_families'] === undefined ? undefined : int('metadata_families', 0);
  const metadata_missing = o['metadata_missing'] === undefined ? undefined : str('metadata_missing', true);

  return {
    format_version,
    source,
    start_ms,
    end_ms,
    selector,
    object_key,
    series,
    samples,
    min_ts,
    max_ts,
    raw_bytes,
    stored_bytes,
    codec,
    sha256,
    complete,
    created_at,
    pulled_from,
    ...(conflicting_samples !== undefined ? { conflicting_samples } : {}),
    ...(missing !== undefined ? { missing_replicas: missing as string[] } : {}),
    ...(metadata_families !== undefined ? { metadata_families } : {}),
    ...(metadata_missing !== undefined ? { metadata_missing } : {}),
  };
}

async function readSmall(store: ObjectStore, key: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of store.get(key)) {
    size += chunk.byteLength;
    if (size > MAX_MANIFEST_BYTES) {
      throw new CorruptShardError(
        `manifest ${key} in ${store.location} is corrupt: it is larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads and validates a manifest; rejects with ObjectNotFoundError when it is absent. */
export async function readManifest(store: ObjectStore, key: string): Promise<ShardManifest> {
  return parseManifest(await readSmall(store, key), key);
}

/** Reads and validates a manifest, or undefined when there is none (the shard is not committed). */
export async function readManifestIfPresent(store: ObjectStore, key: string): Promise<ShardManifest | undefined> {
  try {
    return await readManifest(store, key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
}

/** `manifests/<source>/<YYYY>/<MM>/<DD>/<name>.json`, as shard.ts lays them out. */
const MANIFEST_KEY = /^manifests\/([^/]+)\/\d{4}\/\d{2}\/\d{2}\/[^/]+\.json$/;

/** `<startISO without ':' and '.'>_<lengthMs>_` at the start of a manifest's file name (see shard.ts). */
const NAME_WINDOW = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z_(\d+)_/;

/** The window encoded in a manifest key, or undefined when the name does not say. */
function windowOfKey(key: string): { startMs: number; endMs: number } | undefined {
  const m = NAME_WINDOW.exec(key.slice(key.lastIndexOf('/') + 1));
  if (m === null) return undefined;
  const startMs = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  const length = Number(m[8]);
  if (Number.isNaN(startMs) || !Number.isSafeInteger(length)) return undefined;
  return { startMs, endMs: startMs + length };
}

function byWindow(a: ShardManifest, b: ShardManifest): number {
  return (
    a.start_ms - b.start_ms ||
    a.end_ms - b.end_ms ||
    (a.source < b.source ? -1 : a.source > b.source ? 1 : 0) ||
    (a.selector < b.selector ? -1 : a.selector > b.selector ? 1 : 0)
  );
}

/** A manifest listed in the store that cannot be used: its shard counts as corrupt. */
export interface UnreadableManifest {
  readonly key: string;
  readonly error: string;
}

/** The manifests found, and those that did not parse (reported by key, never fatal to the others). */
export interface ManifestScan {
  readonly manifests: ShardManifest[];
  readonly unreadable: UnreadableManifest[];
}

/**
 * Reads every key; a manifest deleted since it was listed is simply not there. With `source`,
 * a manifest under that source's prefix that names another source is corrupt.
 */
async function readAll(store: ObjectStore, keys: readonly string[], source?: string): Promise<ManifestScan> {
  const read = await mapPool(keys, LIST_CONCURRENCY, async (key) => {
    try {
      const m = await readManifest(store, key);
      if (source === undefined || m.source === source) return m;
      const error = `manifest ${key} is corrupt: it names source ${JSON.stringify(m.source)}, not ${JSON.stringify(source)}`;
      return { key, error };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      if (err instanceof CorruptShardError) return { key, error: err.message };
      throw err;
    }
  });
  const manifests: ShardManifest[] = [];
  const unreadable: UnreadableManifest[] = [];
  for (const r of read) {
    if (r === undefined) continue;
    if ('error' in r) unreadable.push(r);
    else manifests.push(r);
  }
  return { manifests, unreadable };
}

/** The old all-or-nothing contract: the first unreadable manifest fails the call. */
function strict(scan: ManifestScan): ShardManifest[] {
  const bad = scan.unreadable[0];
  if (bad !== undefined) throw new CorruptShardError(bad.error);
  return scan.manifests;
}

/**
 * The manifests of `source` whose window intersects [fromMs, toMs), sorted by start. Lists
 * only the UTC-day (or, for long ranges, month) prefixes that can hold such shards, given that no
 * shard is longer than `maxShardMs`, and reads only the manifests whose file name places them in
 * the range. Fails on the first manifest that does not parse; scanManifests reports those instead.
 */
export async function listManifests(
  store: ObjectStore,
  source: string,
  fromMs: number,
  toMs: number,
  maxShardMs: number,
): Promise<ShardManifest[]> {
  return strict(await scanManifests(store, source, fromMs, toMs, maxShardMs));
}

/** As listManifests, but a manifest that does not parse is returned in `unreadable` and the rest are read. */
export async function scanManifests(
  store: ObjectStore,
  source: string,
  fromMs: number,
  toMs: number,
  maxShardMs: number,
): Promise<ManifestScan> {
  const keys: string[] = [];
  for (const prefix of manifestPrefixes(source, fromMs, toMs, maxShardMs)) {
    for await (const info of store.list(prefix)) {
      if (!MANIFEST_KEY.test(info.key)) continue;
      const window = windowOfKey(info.key);
      if (window !== undefined && (window.startMs >= toMs || window.endMs <= fromMs)) continue;
      keys.push(info.key);
    }
  }
  const scan = await readAll(store, keys, source);
  return {
    manifests: scan.manifests.filter((m) => m.start_ms < toMs && m.end_ms > fromMs).sort(byWindow),
    unreadable: scan.unreadable,
  };
}

/** Every manifest of `source`, or of every source when omitted, sorted by source then start. */
export async function listAllManifests(store: ObjectStore, source?: string): Promise<ShardManifest[]> {
  return strict(await scanAllManifests(store, source));
}

/** As listAllManifests, but a manifest that does not parse is returned in `unreadable` and the rest are read. */
export async function scanAllManifests(store: ObjectStore, source?: string): Promise<ManifestScan> {
  const prefix = source === undefined ? 'manifests/' : `manifests/${validateSourceName(source)}/`;
  const keys: string[] = [];
  for await (const info of store.list(prefix)) if (MANIFEST_KEY.test(info.key)) keys.push(info.key);
  const scan = await readAll(store, keys);
  const manifests = scan.manifests.sort((a, b) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : byWindow(a, b),
  );
  return { manifests, unreadable: scan.unreadable };
}

/**
 * The sources that have at least one manifest, sorted. ObjectStore.list is flat, so this walks
 * every manifest key once (no object is read).
 */
export async function listSources(store: ObjectStore): Promise<string[]> {
  const sources = new Set<string>();
  for await (const info of store.list('manifests/')) {
    const name = MANIFEST_KEY.exec(info.key)?.[1];
    if (name === undefined) continue;
    try {
      sources.add(validateSourceName(name));
    } catch {
      // Not something promvault wrote; ignore it.
    }
  }
  return [...sources].sort();
}

/** Keys looked at to say what a store without backups holds instead. */
const TOP_LEVEL_SCAN = 1000;
const TOP_LEVEL_SHOWN = 10;

/** The first few top-level names in the store ('dir/' for a prefix), from one short listing. */
async function topLevelNames(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>();
  let seen = 0;
  for await (const info of store.list('')) {
    const slash = info.key.indexOf('/');
    names.add(slash < 0 ? info.key : info.key.slice(0, slash + 1));
    if (++seen >= TOP_LEVEL_SCAN || names.size > TOP_LEVEL_SHOWN) break;
  }
  return [...names];
}

/**
 * The sources in the store; a store (or S3 prefix) without any shard manifest is bad input: it
 * is not a promvault store, most likely a typo in --store. So is a `wanted` source it lacks.
 */
export async function requireSources(store: ObjectStore, wanted: readonly string[] = []): Promise<string[]> {
  const sources = await listSources(store);
  if (sources.length > 0) {
    for (const s of wanted) {
      if (!sources.includes(s)) {
        throw new InputError(
          `source ${JSON.stringify(s)} has no backups in ${store.location}; sources there: ${sources.join(', ')}`,
        );
      }
    }
    return sources;
  }
  // Listing the root may be denied (e.g. an IAM policy scoped to prefixes): the message then goes without it.
  const names = await topLevelNames(store).catch(() => undefined);
  const holds =
    names === undefined
      ? 'what else it holds could not be listed'
      : names.length === 0
        ? 'it is empty'
        : `at the top level it holds ${names
            .slice(0, TOP_LEVEL_SHOWN)
            .map((n) => JSON.stringify(n))
            .join(', ')}${names.length > TOP_LEVEL_SHOWN ? ', …' : ''}`;
  throw new InputError(
    `store ${store.location} holds no promvault backups (no manifests/ under it; ${holds}): check --store, and for S3 the bucket and prefix (the prefix is the part before manifests/)`,
  );
}
