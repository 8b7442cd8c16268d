import { WritePipeline, type WritePipelineOptions } from '../../../../lambdas/core/restore/write';
import type { RemoteWriter, WriteBatch } from '../../../../lambdas/core/ports';
import type { SeriesPiece } from '../../../../lambdas/core/types';
import { formatLabels } from '../../../../lambdas/core/labels';

function series(i: number, from: number, n: number): SeriesPiece {
  return {
    labels: [{ name: '__name__', value: `m${i}` }],
    timestamps: Float64Array.from({ length: n }, (_, k) => from + k),
    values: Float64Array.from({ length: n }, (_, k) => k),
  };
}

class SlowWriter implements RemoteWriter {
  readonly endpoint = 'fake';
  inflight = 0;
  maxInflight = 0;
  received: WriteBatch[] = [];
  constructor(private readonly delayMs: number) {}
  async write(batch: WriteBatch): Promise<void> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.received.push(batch);
    this.inflight--;
  }
}

describe('WritePipeline', () => {
  it('keeps each series in time order, splits big pieces, and bounds requests in flight', async () => {
    const writer = new SlowWriter(2);
    const pipeline = new WritePipeline(writer, { batchSamples: 7, concurrency: 3 });
    for (let chunk = 0; chunk < 5; chunk++) {
      for (let i = 0; i < 10; i++) await pipeline.add(series(i, chunk * 20, 20));
    }
    await pipeline.flush();
    expect(pipeline.counts.samples).toBe(5 * 10 * 20);
    expect(writer.maxInflight).toBeLessThanOrEqual(3);
    expect(writer.received.every((b) => b.samples <= 7)).toBe(true);
    const seen = new Map<string, number>();
    for (const batch of writer.received) {
      for (const s of batch.series) {
        const key = formatLabels(s.labels);
        for (const t of s.timestamps) {
          expect(t).toBeGreaterThan(seen.get(key) ?? -1);
          seen.set(key, t);
        }
      }
    }
    expect(seen.size).toBe(10);
  });

  /**
   * Fills one lane whose first request never returns until released; returns how many full
   * batches it took without a promise to wait on, and checks that the next one pushes back.
   */
  async function batchesTakenBeforePushBack(options: WritePipelineOptions & { batchSamples: number }) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writes: number[] = [];
    const writer: RemoteWriter = {
      endpoint: 'gated',
      write: async (batch) => {
        writes.push(batch.samples);
        await gate;
      },
    };
    const pipeline = new WritePipeline(writer, { concurrency: 2, ...options });
    const n = options.batchSamples;
    const settled = (p: Promise<void>) =>
      Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);
    let taken = 0;
    let waiting: Promise<void> | undefined;
    // Bounded, so that a lane that never pushes back fails the test instead of hanging it.
    while (taken < 100 && !(waiting = pipeline.add(series(0, taken * n, n)))) taken++;
    expect(waiting).toBeInstanceOf(Promise);
    await new Promise((r) => setTimeout(r, 10));
    // Only the lane's first request went out; the rest wait behind it, in order.
    expect(writes).toEqual([n]);
    expect(await settled(waiting!)).toBe(false);
    release();
    await waiting;
    await pipeline.flush();
    expect(pipeline.counts).toEqual({ samples: (taken + 1) * n, requests: taken + 1 });
    return taken;
  }

  it('lets a lane queue batches behind a slow request, then pushes back', async () => {
    // One request in flight plus two queued.
    expect(await batchesTakenBeforePushBack({ batchSamples: 5, queuePerLane: 2 })).toBe(3);
  });

  it('queues about 40,000 samples per lane by default, and never fewer than two batches', async () => {
    expect(await batchesTakenBeforePushBack({ batchSamples: 5000 })).toBe(1 + 8);
    expect(await batchesTakenBeforePushBack({ batchSamples: 15_000 })).toBe(1 + 3);
    expect(await batchesTakenBeforePushBack({ batchSamples: 100_000 })).toBe(1 + 2);
  });

  it('surfaces a failed request on flush and refuses more work', async () => {
    const failing: RemoteWriter = { endpoint: 'x', write: async () => Promise.reject(new Error('rejected')) };
    const pipeline = new WritePipeline(failing, { batchSamples: 5, concurrency: 1 });
    await pipeline.add(series(0, 0, 5));
    await expect(pipeline.flush()).rejects.toThrow('rejected');
    expect(() => pipeline.add(series(0, 5, 5))).toThrow('rejected');
  });
});
