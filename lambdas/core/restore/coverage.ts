/**
 * coverage: which parts of a requested range the committed shards cover (the rest are gaps),
 * and, where shards overlap, which one each part is read from, so every sample is written once.
 * Pure: works on manifests only.
 *
 * A shard with selector '' holds every series of its window; a shard with a selector holds the
 * series that selector matches. Coverage is judged per source and per selector: a selector's
 * window is covered by a shard of that selector or by an unfiltered shard.
 */
import type { ShardManifest } from '../shard';
import type { TimeWindow } from '../types';

/** `[start_ms, end_ms)` of a part of the range that no committed shard holds. */
export type GapPair = readonly [number, number];

export interface Gap {
  readonly source: string;
  /** '' when every series of the source is missing there. */
  readonly selector: string;
  readonly start_ms: number;
  readonly end_ms: number;
}

/** The parts of `range` that no window covers, oldest first. Windows may overlap and come in any order. */
export function uncovered(range: TimeWindow, windows: readonly TimeWindow[]): GapPair[] {
  const sorted = windows
    .filter((w) => w.endMs > range.startMs && w.startMs < range.endMs)
    .sort((a, b) => a.startMs - b.startMs);
  const gaps: GapPair[] = [];
  let cursor = range.startMs;
  for (const w of sorted) {
    if (cursor >= range.endMs) break;
    if (w.startMs > cursor) gaps.push([cursor, Math.min(w.startMs, range.endMs)]);
    cursor = Math.max(cursor, w.endMs);
  }
  if (cursor < range.endMs) gaps.push([cursor, range.endMs]);
  return gaps;
}

const windowOf = (m: ShardManifest): TimeWindow => ({ startMs: m.start_ms, endMs: m.end_ms });

/**
 * The gaps of each source in `range`: per selector found among its shards (unfiltered shards
 * cover every selector). A source with no shard in the range is one gap over all of it.
 */
export function findGaps(range: TimeWindow, sources: readonly string[], manifests: readonly ShardManifest[]): Gap[] {
  const gaps: Gap[] = [];
  for (const source of sources) {
    const own = manifests.filter((m) => m.source === source && m.end_ms > range.startMs && m.start_ms < range.endMs);
    const unfiltered = own.filter((m) => m.selector === '').map(windowOf);
    const selectors = [...new Set(own.map((m) => m.selector))].sort();
    if (selectors.length === 0) selectors.push('');
    for (const selector of selectors) {
      const windows =
        selector === '' ? unfiltered : [...unfiltered, ...own.filter((m) => m.selector === selector).map(windowOf)];
      for (const [start_ms, end_ms] of uncovered(range, windows)) gaps.push({ source, selector, start_ms, end_ms });
    }
  }
  return gaps.sort((a, b) => a.start_ms - b.start_ms || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

/** A part of the range one shard supplies; series matching a `skip` selector come from another shard there. */
export interface ShardPart {
  readonly startMs: number;
  readonly endMs: number;
  readonly skip: readonly string[];
}

/** What one read of a shard writes. */
export interface ShardSlice {
  /** The part this read writes; empty (startMs === endMs) when other shards supply all of the shard. */
  readonly part: ShardPart;
  /**
   * Set on exactly one read of each shard: every part of the shard that any read writes. Its
   * samples in the range outside these parts are counted as duplicates skipped.
   */
  readonly countOutside?: readonly ShardPart[];
}

export interface ShardRead {
  readonly manifest: ShardManifest;
  readonly slice: ShardSlice;
}

/**
 * Of shards covering the same stretch, the one to read: a complete one (its window was closed
 * when it was pulled), then the longest (fewest reads), then the oldest window, then by key.
 */
function better(a: ShardManifest, b: ShardManifest): boolean {
  if (a.complete !== b.complete) return a.complete;
  const la = a.end_ms - a.start_ms;
  const lb = b.end_ms - b.start_ms;
  if (la !== lb) return la > lb;
  if (a.start_ms !== b.start_ms) return a.start_ms < b.start_ms;
  return a.object_key < b.object_key;
}

/**
 * Splits the range at every shard boundary and gives each stretch to one shard per selector
 * (an unfiltered shard, where there is one, supplies every series and the selector shards none
 * there). Series two selectors both match are supplied by the first selector in sort order.
 * Every manifest gets at least one read, so the samples it holds twice are counted; a shard
 * whose parts are not contiguous is read once per part, so each series stays in time order.
 * Reads come oldest part first.
 */
export function planReads(range: TimeWindow, manifests: readonly ShardManifest[]): ShardRead[] {
  const inRange = manifests.filter((m) => m.end_ms > range.startMs && m.start_ms < range.endMs);
  const parts = new Map<ShardManifest, ShardPart[]>(inRange.map((m) => [m, []]));
  const bySource = new Map<string, ShardManifest[]>();
  for (const m of inRange) {
    const list = bySource.get(m.source);
    if (list === undefined) bySource.set(m.source, [m]);
    else list.push(m);
  }

  for (const own of bySource.values()) {
    const clip = (t: number) => Math.min(Math.max(t, range.startMs), range.endMs);
    const cuts = [...new Set(own.flatMap((m) => [clip(m.start_ms), clip(m.end_ms)]))].sort((a, b) => a - b);
    const byStart = [...own].sort((a, b) => a.start_ms - b.start_ms);
    let next = 0;
    let active: ShardManifest[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const startMs = cuts[i]!;
      const endMs = cuts[i + 1]!;
      while (next < byStart.length && clip(byStart[next]!.start_ms) <= startMs) active.push(byStart[next++]!);
      active = active.filter((m) => clip(m.end_ms) >= endMs);
      if (active.length === 0) continue;
      const best = new Map<string, ShardManifest>();
      for (const m of active) {
        const held = best.get(m.selector);
        if (held === undefined || better(m, held)) best.set(m.selector, m);
      }
      const unfiltered = best.get('');
      const chosen = unfiltered !== undefined ? [unfiltered] : [...best.values()];
      chosen.sort((a, b) => (a.selector < b.selector ? -1 : a.selector > b.selector ? 1 : 0));
      chosen.forEach((m, k) => {
        const skip = chosen.slice(0, k).map((x) => x.selector);
        const list = parts.get(m)!;
        const last = list.at(-1);
        if (last !== undefined && last.endMs === startMs && sameSkip(last.skip, skip)) {
          list[list.length - 1] = { ...last, endMs };
        } else {
          list.push({ startMs, endMs, skip });
        }
      });
    }
  }

  const reads: ShardRead[] = [];
  for (const [manifest, own] of parts) {
    if (own.length === 0) {
      const empty = { startMs: range.startMs, endMs: range.startMs, skip: [] };
      reads.push({ manifest, slice: { part: empty, countOutside: [] } });
      continue;
    }
    own.forEach((part, k) => reads.push({ manifest, slice: k === 0 ? { part, countOutside: own } : { part } }));
  }
  const startOf = (r: ShardRead) =>
    r.slice.part.endMs > r.slice.part.startMs ? r.slice.part.startMs : r.manifest.start_ms;
  return reads.sort(
    (a, b) =>
      startOf(a) - startOf(b) ||
      (a.manifest.source < b.manifest.source ? -1 : a.manifest.source > b.manifest.source ? 1 : 0) ||
      (a.manifest.selector < b.manifest.selector ? -1 : a.manifest.selector > b.manifest.selector ? 1 : 0) ||
      (a.manifest.object_key < b.manifest.object_key ? -1 : a.manifest.object_key > b.manifest.object_key ? 1 : 0),
  );
}

function sameSkip(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/**
 * Holes between a source's first and last shard, for commands given no range: per source, the
 * gaps of the span its shards cover.
 */
export function gapsWithinSpan(manifests: readonly ShardManifest[]): Gap[] {
  const spans = new Map<string, { startMs: number; endMs: number }>();
  for (const m of manifests) {
    const s = spans.get(m.source);
    spans.set(m.source, {
      startMs: Math.min(s?.startMs ?? Infinity, m.start_ms),
      endMs: Math.max(s?.endMs ?? -Infinity, m.end_ms),
    });
  }
  return [...spans].flatMap(([source, span]) => findGaps(span, [source], manifests));
}
