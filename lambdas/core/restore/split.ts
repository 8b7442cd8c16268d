/**
 * split: when a target rejects a request for some of its samples (InfluxDB refuses a whole
 * request for one +Inf; Prometheus for one conflicting duplicate), send its halves, and their
 * halves, until each rejected series stands alone; everything else lands. Only on that error
 * path: a request that is accepted costs nothing extra.
 */
import type { RemoteWriter, WriteBatch } from '../ports';
import type { SeriesPiece } from '../types';
import { TargetRejectedDataError } from '../errors';
import { formatLabels } from '../labels';
import { readTimeSeriesList, wrapDecode } from '../prom/prompb';
import { snappyUncompress } from '../prom/snappy';

/** A series the target would not take, with its samples in this run and the target's words. */
export interface RejectedSeries {
  readonly labels: string;
  readonly samples: number;
  readonly reason: string;
}

/** Adds a rejection, one entry per series: a series that several requests carried is named once. */
export function mergeRejected(bySeries: Map<string, RejectedSeries>, r: RejectedSeries): void {
  const seen = bySeries.get(r.labels);
  bySeries.set(r.labels, seen ? { ...seen, samples: seen.samples + r.samples } : r);
}

/** The target's message as a reason: its own text when it gave one, capped. */
export const MAX_REASON_CHARS = 300;

export interface SentCounts {
  /** Samples the target acknowledged. */
  readonly accepted: number;
  /** Requests sent, the first one included. */
  readonly requests: number;
}

/**
 * Writes a batch; on a rejection of its data, isolates the rejected series by halving and calls
 * `onRejected` for each. Any other failure rejects, with the counts so far in `partial`.
 */
export async function writeIsolating(
  writer: RemoteWriter,
  batch: WriteBatch,
  onRejected: (rejected: RejectedSeries) => void,
  signal?: AbortSignal,
): Promise<SentCounts> {
  let accepted = 0;
  let requests = 1;
  try {
    await writer.write(batch, signal);
    return { accepted: batch.samples, requests };
  } catch (err) {
    if (!(err instanceof TargetRejectedDataError)) throw err;
    const groups = seriesGroups(batch);
    const bisect = async (part: SeriesPiece[][], rejection: TargetRejectedDataError): Promise<void> => {
      if (part.length === 1) {
        onRejected({
          labels: formatLabels(part[0]![0]!.labels),
          samples: sampleCount(part[0]!),
          reason: reasonOf(rejection),
        });
        return;
      }
      const middle = part.length >>> 1;
      for (const half of [part.slice(0, middle), part.slice(middle)]) {
        const series = half.flat();
        const samples = sampleCount(series);
        requests++;
        try {
          await writer.write({ series, samples }, signal);
          accepted += samples;
        } catch (e) {
          if (!(e instanceof TargetRejectedDataError)) throw withCounts(e, { accepted, requests });
          await bisect(half, e);
        }
      }
    };
    await bisect(groups, err);
    return { accepted, requests };
  }
}

/** Counts attached to an error that ended an isolation part-way, so the report stays exact. */
export function partialCounts(err: unknown): SentCounts | undefined {
  return (err as { partial?: SentCounts } | undefined)?.partial;
}

function withCounts(err: unknown, partial: SentCounts): unknown {
  if (err instanceof Error) Object.assign(err, { partial });
  return err;
}

/** The batch's pieces grouped by series, in first-seen order (a prepared batch is decoded back). */
function seriesGroups(batch: WriteBatch): SeriesPiece[][] {
  const pieces = batch.series.length > 0 || !batch.body ? batch.series : decodeRequest(snappyUncompress(batch.body));
  const groups = new Map<string, SeriesPiece[]>();
  for (const p of pieces) {
    const key = formatLabels(p.labels);
    const group = groups.get(key);
    if (group) group.push(p);
    else groups.set(key, [p]);
  }
  return [...groups.values()];
}

/** The series of a WriteRequest body, decoded back only on this error path. */
function decodeRequest(bytes: Uint8Array): SeriesPiece[] {
  return wrapDecode('WriteRequest', bytes, (r) => readTimeSeriesList(r, r.len, { n: 0 }));
}

function sampleCount(pieces: readonly SeriesPiece[]): number {
  return pieces.reduce((n, p) => n + p.timestamps.length, 0);
}

function reasonOf(err: TargetRejectedDataError): string {
  const text = err.body || err.message;
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
}
