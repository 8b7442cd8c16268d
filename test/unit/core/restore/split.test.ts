import { writeIsolating, type RejectedSeries } from '../../../../lambdas/core/restore/split';
import { WritePipeline } from '../../../../lambdas/core/restore/write';
import { TargetRejectedDataError, TargetUnavailableError } from '../../../../lambdas/core/errors';
import { withRequestBody } from '../../../../lambdas/core/restore/write';
import { decodeWriteRequest } from '../../../harness/prompb-server';
import { snappyUncompress } from '../../../../lambdas/core/prom/snappy';
import { formatLabels } from '../../../../lambdas/core/labels';
import type { RemoteWriter, WriteBatch } from '../../../../lambdas/core/ports';
import type { SeriesPiece } from '../../../../lambdas/core/types';

function series(name: string, n: number, from = 0): SeriesPiece {
  return {
    labels: [{ name: '__name__', value: name }],
    timestamps: Float64Array.from({ length: n }, (_, k) => from + k),
    values: Float64Array.from({ length: n }, (_, k) => (name.startsWith('bad') ? Infinity : k)),
  };
}

/** Like InfluxDB 1.x: a request holding any +Inf is refused whole; the others are stored. */
class InfRefusingWriter implements RemoteWriter {
  readonly endpoint = 'influx';
  readonly stored = new Map<string, number>();
  requests = 0;
  failAfter = Infinity;
  prepare = (batch: WriteBatch) => withRequestBody(batch);
  async write(batch: WriteBatch): Promise<void> {
    this.requests++;
    if (this.requests > this.failAfter) throw new TargetUnavailableError('down');
    const pieces = batch.body ? decodeWriteRequest(snappyUncompress(batch.body)) : batch.series;
    if (pieces.some((p) => p.values.some((v) => v === Infinity)))
      throw new TargetRejectedDataError('rejected', 400, '{"error":"+/-Inf is an unsupported value for field value"}');
    for (const p of pieces) {
      const key = formatLabels(p.labels);
      this.stored.set(key, (this.stored.get(key) ?? 0) + p.timestamps.length);
    }
  }
}

describe('writeIsolating', () => {
  it('lands every series but the rejected ones, named with the target message, counts exact', async () => {
    const writer = new InfRefusingWriter();
    const all = [series('a', 3), series('bad1', 4), series('b', 2), series('c', 5), series('bad2', 6), series('d', 1)];
    const rejected: RejectedSeries[] = [];
    const batch = writer.prepare({ series: all, samples: 21 });
    const counts = await writeIsolating(writer, batch, (r) => rejected.push(r));
    expect(rejected).toEqual([
      { labels: 'bad1{}', samples: 4, reason: '{"error":"+/-Inf is an unsupported value for field value"}' },
      { labels: 'bad2{}', samples: 6, reason: '{"error":"+/-Inf is an unsupported value for field value"}' },
    ]);
    expect(counts.accepted).toBe(11);
    expect(counts.requests).toBe(writer.requests);
    expect([...writer.stored]).toEqual([
      ['a{}', 3],
      ['b{}', 2],
      ['c{}', 5],
      ['d{}', 1],
    ]);
  });

  it('keeps the pieces of one series together while halving', async () => {
    const writer = new InfRefusingWriter();
    const rejected: RejectedSeries[] = [];
    const pieces = [series('bad', 3, 0), series('bad', 3, 3), series('ok', 2)];
    const counts = await writeIsolating(writer, { series: pieces, samples: 8 }, (r) => rejected.push(r));
    expect(rejected.map((r) => [r.labels, r.samples])).toEqual([['bad{}', 6]]);
    expect(counts.accepted).toBe(2);
  });

  it('in a pipeline: the other lanes and batches land, and the rejected are listed', async () => {
    const writer = new InfRefusingWriter();
    const pipeline = new WritePipeline(writer, { batchSamples: 7, concurrency: 2 });
    for (const s of [series('a', 10), series('bad', 10), series('b', 10)]) await pipeline.add(s);
    await pipeline.flush();
    expect(pipeline.counts.samples).toBe(20);
    expect(pipeline.rejectedSampleCount).toBe(10);
    // One entry per series, however many requests carried it.
    expect(pipeline.rejected.map((r) => [r.labels, r.samples])).toEqual([['bad{}', 10]]);
  });

  it('a target that goes down part-way: the error carries what landed', async () => {
    const writer = new InfRefusingWriter();
    writer.failAfter = 2;
    const pipeline = new WritePipeline(writer, { batchSamples: 100, concurrency: 1 });
    for (const s of [series('a', 3), series('bad', 3), series('b', 3), series('c', 3)]) await pipeline.add(s);
    await expect(pipeline.flush()).rejects.toBeInstanceOf(TargetUnavailableError);
    // Request 1 rejected whole, request 2 (a, bad) rejected, request 3 fails: nothing landed yet.
    expect(pipeline.counts.samples).toBe(0);
    const again = new InfRefusingWriter();
    again.failAfter = 4;
    const p2 = new WritePipeline(again, { batchSamples: 100, concurrency: 1 });
    for (const s of [series('a', 3), series('b', 3), series('bad', 3), series('c', 3)]) await p2.add(s);
    await expect(p2.flush()).rejects.toBeInstanceOf(TargetUnavailableError);
    // 1: all rejected; 2: [a, b] lands; 3: [bad, c] rejected; 4: [bad] rejected; 5: fails.
    expect(p2.counts.samples).toBe(6);
    expect([...again.stored.values()].reduce((a, b) => a + b, 0)).toBe(6);
  });
});
