/**
 * pull: read one shard window from the source and guard the invariants the encoder relies on
 * (every sample inside the window, strictly ascending per series), so a protocol surprise
 * fails the shard instead of silently storing a sample in two shards.
 */
import { PermanentError } from '../errors';
import type { PrometheusReader, ReadOptions } from '../ports';
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../types';
import { formatIso } from '../time';
import { labelsEqual } from '../labels';

export class SourceProtocolError extends PermanentError {}

export async function* pullWindow(
  reader: PrometheusReader,
  window: TimeWindow,
  matchers: readonly LabelMatcher[],
  signal?: AbortSignal,
  onOutcome?: ReadOptions['onOutcome'],
): AsyncGenerator<SeriesPiece> {
  let lastLabels: SeriesPiece['labels'] | undefined;
  let lastTs = -Infinity;
  for await (const piece of reader.read(window, matchers, { signal, onOutcome })) {
    if (lastLabels === undefined || !labelsEqual(piece.labels, lastLabels)) lastTs = -Infinity;
    const ts = piece.timestamps;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (t < window.startMs || t >= window.endMs || t <= lastTs) {
        throw new SourceProtocolError(
          `${reader.endpoint} returned a sample at ${formatIso(t)} that is ${t <= lastTs ? 'not after the previous one' : 'outside'} the shard window [${formatIso(window.startMs)}, ${formatIso(window.endMs)})`,
        );
      }
      lastTs = t;
    }
    lastLabels = piece.labels;
    yield piece;
  }
}
