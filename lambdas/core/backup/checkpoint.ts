/**
 * The checkpoint of a source: an instant before which every window is committed (and
 * complete). Pure; commit.ts reads and writes it.
 */
import type { TimeWindow } from '../types';

/**
 * The new checkpoint: the end of the contiguous run of committed windows that starts at the
 * previous checkpoint, or, when there is none yet, at the start of the earliest planned window.
 *
 * "Contiguous" means covered without a gap: a committed window advances the checkpoint when it
 * starts at or before the current end and ends after it, so windows of different lengths (an
 * earlier run with another shard length) chain too. The first gap stops the run: a failed or
 * still-open shard holds the checkpoint back until a later run commits it.
 *
 * Callers pass only complete windows as `committedWindows`. The result never moves backwards;
 * it is `previousEndMs` when nothing advances it, and undefined when there was no previous
 * checkpoint and nothing is committed from the first planned window on.
 */
export function advanceCheckpoint(
  previousEndMs: number | undefined,
  committedWindows: readonly TimeWindow[],
  plannedWindows: readonly TimeWindow[],
): number | undefined {
  let cursor = previousEndMs;
  if (cursor === undefined) {
    for (const w of plannedWindows) if (cursor === undefined || w.startMs < cursor) cursor = w.startMs;
  }
  if (cursor === undefined) return undefined;

  const sorted = committedWindows.filter((w) => w.endMs > w.startMs).sort((a, b) => a.startMs - b.startMs);
  let end = cursor;
  for (const w of sorted) {
    if (w.startMs > end) break;
    if (w.endMs > end) end = w.endMs;
  }
  if (end === cursor && previousEndMs === undefined) return undefined;
  return end;
}
