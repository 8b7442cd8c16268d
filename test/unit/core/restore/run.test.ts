import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { runBackup } from '../../../../lambdas/core/backup/run';
import { TargetProbeError, TargetRejectedError, TargetUnavailableError } from '../../../../lambdas/core/errors';
import type { ObjectStore, ReadOptions, RemoteWriter, WriteBatch } from '../../../../lambdas/core/ports';
import type { LabelMatcher, MetricMetadata, TimeWindow } from '../../../../lambdas/core/types';
import { parseSelector } from '../../../../lambdas/core/prom/selector';
import { snappyUncompress } from '../../../../lambdas/core/prom/snappy';
import { decodeWriteRequestMetadata } from '../../../harness/prompb-server';
import { planRestore } from '../../../../lambdas/core/restore/plan';
import { runRestore } from '../../../../lambdas/core/restore/run';
import { SHARD_RETRY } from '../../../../lambdas/core/retry';
import type { ShardManifest } from '../../../../lambdas/core/shard';
import { FakeReader, HOUR, T0 } from '../../handlers/fixtures';

const WINDOW = { startMs: T0, endMs: T0 + 3 * HOUR };
const INPUT = { window: WINDOW, selectorGroups: [] };
/** FakeReader: two series, one sample a minute. */
const PER_SHARD = 2 * 60;

/** A writer that records what it is sent, in order, and can fail from its n-th request on. */
class RecordingWriter implements RemoteWriter {
  readonly endpoint = 'http://target/api/v1/write';
  readonly events: string[] = [];
  samples = 0;
  constructor(private readonly failFrom = Infinity) {}
  async write(batch: WriteBatch): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.events.filter((e) => e === 'write').length + 1 >= this.failFrom) {
      throw new TargetRejectedError('rejected with HTTP 400: out of bounds');
    }
    this.events.push('write');
    this.samples += batch.samples;
  }
}

describe('runRestore', () => {
  let dir: string;
  let store: DirectoryStore;
  let shards: readonly ShardManifest[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'promvault-restore-run-'));
    store = new DirectoryStore(dir);
    const backup = await runBackup(
      { reader: new FakeReader('http://prom:9090/api/v1/read'), store, nowMs: () => T0 + 10 * HOUR },
      { source: 'prod', fromMs: WINDOW.startMs, toMs: WINDOW.endMs, shardLengthMs: HOUR, selectors: [] },
    );
    expect(backup.failed).toEqual([]);
    shards = (await planRestore(store, { sources: [], fromMs: WINDOW.startMs, toMs: WINDOW.endMs })).shards;
    expect(shards).toHaveLength(3);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes every shard, oldest first, with counts per shard', async () => {
    const writer = new RecordingWriter();
    const done: string[] = [];
    const report = await runRestore({ store, writer, onShardDone: (r) => done.push(r.key) }, shards, INPUT, {
      batchSamples: 50,
      concurrency: 2,
    });
    expect(report).toMatchObject({ shards: 3, samples: 3 * PER_SHARD, failed_shards: 0, failures: [] });
    expect(writer.samples).toBe(3 * PER_SHARD);
    expect(done).toEqual(shards.map((m) => m.object_key));
  });

  it('fetches the next shard while the current one is written', async () => {
    const writer = new RecordingWriter();
    const spy: ObjectStore = Object.create(store);
    spy.get = (key: string) => {
      writer.events.push(`get ${shards.findIndex((m) => m.object_key === key)}`);
      return store.get(key);
    };
    await runRestore({ store: spy, writer }, shards, INPUT, { batchSamples: 50, concurrency: 2 });
    const firstWriteOf1 = writer.events.indexOf('write');
    // Shard 1 is being read before shard 0's first request has been answered.
    expect(writer.events.indexOf('get 1')).toBeLessThan(firstWriteOf1);
    expect(writer.events.filter((e) => e.startsWith('get'))).toEqual(['get 0', 'get 1', 'get 2']);
  });

  it('reports a corrupt shard by key, even when it was fetched ahead, and goes on with the others', async () => {
    await writeFile(path.join(dir, shards[1]!.object_key), 'not the bytes of this shard');
    const writer = new RecordingWriter();
    const report = await runRestore({ store, writer }, shards, INPUT, { batchSamples: 50, concurrency: 2 });
    expect(report.failed_shards).toBe(1);
    expect(report.failures[0]).toMatchObject({ key: shards[1]!.object_key, error_name: 'CorruptShardError' });
    expect(report.samples).toBe(2 * PER_SHARD);
    expect(writer.samples).toBe(2 * PER_SHARD);
  });

  it('stops at a rejecting target: later shards are not attempted and nothing is left running', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A corrupt next shard makes its prefetch fail while the current one is stopping.
      await writeFile(path.join(dir, shards[1]!.object_key), 'corrupt');
      const writer = new RecordingWriter(2);
      const report = await runRestore({ store, writer }, shards, INPUT, { batchSamples: 50, concurrency: 1 });
      expect(report.failures.map((f) => [f.key, f.error_name])).toEqual([
        [shards[0]!.object_key, 'TargetRejectedError'],
        [shards[1]!.object_key, 'TargetRejectedError'],
        [shards[2]!.object_key, 'TargetRejectedError'],
      ]);
      expect(report.failures[1]!.error).toMatch(/^not attempted: /);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('retries a shard whose target was down for a moment (SHARD_RETRY), and every sample lands', async () => {
    class DownTwice extends RecordingWriter {
      failures = 0;
      override async write(batch: WriteBatch): Promise<void> {
        // The second request of the first shard fails, twice: the shard is replayed from the start.
        if (this.events.length === 1 && this.failures < 2) {
          this.failures++;
          throw new TargetUnavailableError('remote write to http://target/api/v1/write failed: HTTP 503');
        }
        return super.write(batch);
      }
    }
    const writer = new DownTwice();
    const retried: number[] = [];
    const report = await runRestore(
      {
        store,
        writer,
        retry: { ...SHARD_RETRY, intervalMs: 1 },
        onRetry: (_shard, _err, attempt) => retried.push(attempt),
      },
      shards,
      INPUT,
      { batchSamples: 50, concurrency: 1 },
    );
    expect(report.failures).toEqual([]);
    expect(retried).toEqual([1, 2]);
    expect(report.samples).toBe(3 * PER_SHARD);
    expect(report.completed_shards.map((c) => c.samples)).toEqual([PER_SHARD, PER_SHARD, PER_SHARD]);
  });

  it('after the retries are spent, the shard fails with what its furthest attempt landed, and the run stops', async () => {
    const writer = new (class extends RecordingWriter {
      override async write(batch: WriteBatch): Promise<void> {
        if (this.events.length >= 1) throw new TargetUnavailableError('down');
        return super.write(batch);
      }
    })();
    const report = await runRestore(
      { store, writer, retry: { ...SHARD_RETRY, intervalMs: 1, maxAttempts: 2 } },
      shards,
      INPUT,
      { batchSamples: 50, concurrency: 1 },
    );
    expect(report.failures.map((f) => f.error_name)).toEqual([
      'TargetUnavailableError',
      'TargetUnavailableError',
      'TargetUnavailableError',
    ]);
    expect(report.failures[0]).toMatchObject({ samples: 50 });
    expect(report.failures[1]!.error).toMatch(/^not attempted: /);
  });

  it('counts what the target acknowledged of a shard that failed part-way, in the shard and the total', async () => {
    // Two requests of 50 land, the third is rejected: the target holds 100 samples.
    const writer = new RecordingWriter(3);
    const report = await runRestore({ store, writer }, shards, INPUT, { batchSamples: 50, concurrency: 1 });
    expect(writer.samples).toBe(100);
    expect(report.failures[0]).toMatchObject({ key: shards[0]!.object_key, samples: 100, requests: 3 });
    expect(report.samples).toBe(writer.samples);
    expect(report.completed_shards).toEqual([]);
  });

  it('counts requests that land on other lanes after one lane failed', async () => {
    class OneLaneFails extends RecordingWriter {
      override async write(batch: WriteBatch): Promise<void> {
        if (batch.samples === 7) throw new TargetUnavailableError('down');
        await new Promise((resolve) => setTimeout(resolve, 5));
        this.samples += batch.samples;
      }
    }
    const writer = new OneLaneFails();
    const report = await runRestore({ store, writer }, shards.slice(0, 1), INPUT, { batchSamples: 7, concurrency: 4 });
    expect(report.failed_shards).toBe(1);
    expect(report.samples).toBe(writer.samples);
  });

  it('probes the target before the first sample; a refusal writes nothing and is bad input', async () => {
    const writer = new RecordingWriter();
    const probed: string[] = [];
    const probing: RemoteWriter = {
      endpoint: writer.endpoint,
      probe: async () => {
        probed.push('probe');
        throw new TargetProbeError('HTML page');
      },
      write: (b) => writer.write(b),
    };
    await expect(runRestore({ store, writer: probing }, shards, INPUT)).rejects.toBeInstanceOf(TargetProbeError);
    expect(probed).toEqual(['probe']);
    expect(writer.events).toEqual([]);
  });

  it('lists the shards it completed, for resume', async () => {
    const report = await runRestore({ store, writer: new RecordingWriter() }, shards, INPUT);
    expect(report.completed_shards).toEqual(shards.map((m) => ({ key: m.object_key, samples: PER_SHARD })));
    expect(report).toMatchObject({ rejected_samples: 0, rejected_series: [] });
  });
});

describe('runRestore: metric metadata', () => {
  let dir: string;
  let store: DirectoryStore;
  let shards: readonly ShardManifest[];
  const up: MetricMetadata = { metricFamilyName: 'up', type: 'gauge', help: 'Target up.', unit: '' };
  const requests: MetricMetadata = { metricFamilyName: 'requests', type: 'counter', help: 'Requests.', unit: '' };

  /** FakeReader's `up` series, a `requests_total` beside them, and metadata for both and one more. */
  class MetadataReader extends FakeReader {
    async *read(window: TimeWindow, matchers: readonly LabelMatcher[], options?: ReadOptions) {
      for await (const p of super.read(window, matchers, options)) {
        yield { ...p, labels: [{ name: '__name__', value: 'requests_total' }, ...p.labels.slice(1)] };
      }
      yield* super.read(window, matchers, options);
    }
    async metadata(): Promise<MetricMetadata[]> {
      return [up, requests, { metricFamilyName: 'elsewhere', type: 'gauge', help: '', unit: '' }];
    }
  }

  /** Records each request's metadata, decoded from the body as a receiver would; can refuse metadata. */
  class MetadataWriter implements RemoteWriter {
    readonly endpoint = 'http://target/api/v1/write';
    readonly metadata: MetricMetadata[][] = [];
    samples = 0;
    constructor(private readonly refuseMetadata = false) {}
    async write(batch: WriteBatch): Promise<void> {
      if (batch.samples > 0) {
        this.samples += batch.samples;
        return;
      }
      if (this.refuseMetadata) throw new TargetRejectedError('rejected with HTTP 400: metadata not accepted');
      this.metadata.push(decodeWriteRequestMetadata(snappyUncompress(batch.body!, 1 << 20)));
    }
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'promvault-restore-metadata-'));
    store = new DirectoryStore(dir);
    const backup = await runBackup(
      { reader: new MetadataReader('http://prom:9090/api/v1/read'), store, nowMs: () => T0 + 10 * HOUR },
      { source: 'prod', fromMs: WINDOW.startMs, toMs: WINDOW.endMs, shardLengthMs: HOUR, selectors: [] },
    );
    expect(backup.failed).toEqual([]);
    shards = (await planRestore(store, { sources: [], fromMs: WINDOW.startMs, toMs: WINDOW.endMs })).shards;
    expect(shards.map((s) => s.metadata_families)).toEqual([2, 2, 2]);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('sends the metadata of each shard’s restored families in a request of its own', async () => {
    const writer = new MetadataWriter();
    const report = await runRestore({ store, writer }, shards, INPUT);
    expect(writer.samples).toBe(2 * 3 * PER_SHARD);
    expect(writer.metadata).toEqual([
      [requests, up],
      [requests, up],
      [requests, up],
    ]);
    expect(report.metadata_families).toBe(6);
    expect(report.metadata_rejected).toEqual([]);
  });

  it('sends only the families of the series a selector restores', async () => {
    const writer = new MetadataWriter();
    const input = { window: WINDOW, selectorGroups: [parseSelector('{__name__="up"}')] };
    await runRestore({ store, writer }, shards.slice(0, 1), input);
    expect(writer.metadata).toEqual([[up]]);
  });

  it('a target that refuses metadata keeps the samples; each shard says so', async () => {
    const writer = new MetadataWriter(true);
    const report = await runRestore({ store, writer }, shards, INPUT);
    expect(report.samples).toBe(2 * 3 * PER_SHARD);
    expect(report.failed_shards).toBe(0);
    expect(report.metadata_families).toBe(0);
    expect(report.metadata_rejected).toEqual(
      shards.map((s) => ({ key: s.object_key, error: 'rejected with HTTP 400: metadata not accepted' })),
    );
  });
});
