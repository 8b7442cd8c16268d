/** Merging HA replicas: the union per series, once per timestamp, bit for bit, in bounded order. */
import { MergeReader } from '../../../../lambdas/core/backup/replica-merge';
import { SourceProtocolError } from '../../../../lambdas/core/backup/pull';
import { SourceRejectedError, SourceUnavailableError } from '../../../../lambdas/core/errors';
import { STALE_NAN_BITS } from '../../../../lambdas/core/types';
import { collect, hex, labels, ScriptedReplica, series } from './replicas-fixtures';

const noWait = { sleep: async () => undefined };
const api = labels({ job: 'api' });
const db = labels({ job: 'db' });

describe('MergeReader', () => {
  it('keeps one sample where replicas agree on timestamp and value', async () => {
    const a = new ScriptedReplica('a', [
      series(api, [
        [0, 1],
        [10, 2],
      ]),
    ]);
    const b = new ScriptedReplica('b', [
      series(api, [
        [0, 1],
        [10, 2],
      ]),
    ]);
    const { series: out, outcome } = await collect(new MergeReader([a, b], noWait));
    expect(out).toEqual([
      {
        labels: '__name__=up,job=api',
        samples: [
          [0, hex(1)],
          [10, hex(2)],
        ],
      },
    ]);
    expect(outcome).toEqual({ pulledFrom: ['a', 'b'], missingReplicas: [], conflictingSamples: 0 });
  });

  it('keeps the first replica value where values differ, compared bit for bit, and counts the conflicts', async () => {
    const otherNaN = 0x7ff8000000000001n;
    const a = new ScriptedReplica('a', [
      series(api, [
        [0, 1],
        [10, STALE_NAN_BITS],
        [20, 0],
      ]),
    ]);
    const b = new ScriptedReplica('b', [
      series(api, [
        [0, 5],
        [10, otherNaN],
        [20, -0],
      ]),
    ]);
    const { series: out, outcome } = await collect(new MergeReader([a, b], noWait));
    expect(out[0]!.samples).toEqual([
      [0, hex(1)],
      [10, STALE_NAN_BITS.toString(16)],
      [20, hex(0)],
    ]);
    expect(outcome!.conflictingSamples).toBe(3);
    // Swapping the order keeps the other replica's values.
    const swapped = await collect(new MergeReader([b, a], noWait));
    expect(swapped.series[0]!.samples).toEqual([
      [0, hex(5)],
      [10, otherNaN.toString(16)],
      [20, hex(-0)],
    ]);
  });

  it('unions series that only one replica holds, in label-set order', async () => {
    const web = labels({ job: 'web' });
    const a = new ScriptedReplica('a', [series(api, [[0, 1]]), series(web, [[0, 3]])]);
    const b = new ScriptedReplica('b', [series(db, [[0, 2]])]);
    const { series: out } = await collect(new MergeReader([a, b], noWait));
    expect(out.map((s) => s.labels)).toEqual(['__name__=up,job=api', '__name__=up,job=db', '__name__=up,job=web']);
  });

  it('interleaves samples of replicas with different gaps, and joins pieces of one series', async () => {
    const a = new ScriptedReplica('a', [
      series(api, [
        [0, 0],
        [10, 1],
      ]),
      series(api, [
        [40, 4],
        [50, 5],
      ]),
    ]);
    const b = new ScriptedReplica('b', [
      series(api, [
        [10, 1],
        [20, 2],
        [30, 3],
      ]),
      series(api, [[60, 6]]),
    ]);
    const { series: out } = await collect(new MergeReader([a, b], noWait));
    expect(out).toHaveLength(1);
    expect(out[0]!.samples.map(([t]) => t)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(out[0]!.samples.map(([, v]) => v)).toEqual([0, 1, 2, 3, 4, 5, 6].map(hex));
  });

  it('drops the replica label, so one series from two replicas becomes one', async () => {
    const a = new ScriptedReplica('a', [series(labels({ job: 'api', replica: 'a' }), [[0, 1]])]);
    const b = new ScriptedReplica('b', [
      series(labels({ job: 'api', replica: 'b' }), [
        [0, 1],
        [10, 2],
      ]),
    ]);
    const { series: out, outcome } = await collect(new MergeReader([a, b], { ...noWait, replicaLabels: ['replica'] }));
    expect(out).toEqual([
      {
        labels: '__name__=up,job=api',
        samples: [
          [0, hex(1)],
          [10, hex(2)],
        ],
      },
    ]);
    expect(outcome!.conflictingSamples).toBe(0);
  });

  it('merges series of one replica that differ only in the replica label', async () => {
    const a = new ScriptedReplica('a', [
      series(labels({ job: 'api', replica: 'x' }), [
        [0, 1],
        [10, 2],
      ]),
      series(labels({ job: 'api', replica: 'y' }), [
        [5, 9],
        [10, 3],
      ]),
      series(labels({ job: 'db', replica: 'x' }), [[0, 4]]),
    ]);
    const { series: out, outcome } = await collect(new MergeReader([a], { ...noWait, replicaLabels: ['replica'] }));
    expect(out).toEqual([
      {
        labels: '__name__=up,job=api',
        samples: [
          [0, hex(1)],
          [5, hex(9)],
          [10, hex(2)],
        ],
      },
      { labels: '__name__=up,job=db', samples: [[0, hex(4)]] },
    ]);
    expect(outcome!.conflictingSamples).toBe(1);
  });

  it('merges in replica order even where dropping the label reorders series', async () => {
    // Sorted with the label, {job,replica} comes after {job,path,replica}; without it, before.
    const short = (r: string) => labels({ job: 'api', replica: r });
    const long = (r: string) => labels({ job: 'api', path: '/x', replica: r });
    const a = new ScriptedReplica('a', [series(long('a'), [[0, 1]]), series(short('a'), [[0, 2]])]);
    const b = new ScriptedReplica('b', [series(long('b'), [[10, 1]]), series(short('b'), [[10, 2]])]);
    const { series: out } = await collect(new MergeReader([a, b], { ...noWait, replicaLabels: ['replica'] }));
    expect(out).toEqual([
      {
        labels: '__name__=up,job=api,path=/x',
        samples: [
          [0, hex(1)],
          [10, hex(1)],
        ],
      },
      {
        labels: '__name__=up,job=api',
        samples: [
          [0, hex(2)],
          [10, hex(2)],
        ],
      },
    ]);
  });

  it('fails the read, naming the replica, when its series are out of order', async () => {
    const a = new ScriptedReplica('a', [series(db, [[0, 1]]), series(api, [[0, 1]])]);
    const b = new ScriptedReplica('b', []);
    const err = await collect(new MergeReader([a, b], noWait)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceProtocolError);
    expect((err as Error).message).toMatch(/^a sent up\{job="api"\} after up\{job="db"\}: merging replicas needs/);
  });

  it('retries a replica that breaks mid-stream from the series after the last one merged', async () => {
    const a = new ScriptedReplica('a', [series(api, [[0, 1]]), series(db, [[0, 2]])], {
      failAfter: (call) => (call === 1 ? 1 : undefined),
    });
    const b = new ScriptedReplica('b', [series(api, [[10, 1]])]);
    const failures: string[] = [];
    const reader = new MergeReader([a, b], {
      ...noWait,
      onReplicaFailed: (endpoint, _e, willRetry) => failures.push(`${endpoint} ${willRetry}`),
    });
    const { series: out, outcome } = await collect(reader);
    expect(out).toEqual([
      {
        labels: '__name__=up,job=api',
        samples: [
          [0, hex(1)],
          [10, hex(1)],
        ],
      },
      { labels: '__name__=up,job=db', samples: [[0, hex(2)]] },
    ]);
    expect(failures).toEqual(['a true']);
    expect(a.calls).toBe(2);
    expect(outcome).toEqual({ pulledFrom: ['a', 'b'], missingReplicas: [], conflictingSamples: 0 });
  });

  it('merges without a replica that stays down, and names it as missing', async () => {
    const a = new ScriptedReplica('a', [series(api, [[0, 1]])]);
    const down = new ScriptedReplica('b', [series(api, [[0, 1]])], { failAfter: () => 0 });
    const delays: number[] = [];
    const reader = new MergeReader([a, down], {
      retry: { attempts: 3, delayMs: (n) => n * 100 },
      sleep: async (ms) => void delays.push(ms),
    });
    const { series: out, outcome } = await collect(reader);
    expect(out).toHaveLength(1);
    expect(down.calls).toBe(3);
    expect(delays).toEqual([100, 200]);
    expect(outcome).toEqual({ pulledFrom: ['a'], missingReplicas: ['b: b reset'], conflictingSamples: 0 });
  });

  it('fails when every replica fails, naming each', async () => {
    const a = new ScriptedReplica('a', [], { failAfter: () => 0 });
    const b = new ScriptedReplica('b', [], { failAfter: () => 0 });
    const err = (await collect(new MergeReader([a, b], noWait)).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).toBe('every replica of the source failed: a: a reset; b: b reset');
  });

  it('does not retry a replica that refuses, and leaves it out', async () => {
    const a = new ScriptedReplica('a', [series(api, [[0, 1]])]);
    const refusing = {
      endpoint: 'b',
      calls: 0,
      // eslint-disable-next-line require-yield
      async *read() {
        refusing.calls++;
        throw new SourceRejectedError('HTTP 401');
      },
    };
    const { outcome } = await collect(new MergeReader([a, refusing], noWait));
    expect(refusing.calls).toBe(1);
    expect(outcome!.missingReplicas).toEqual(['b: HTTP 401']);
  });
});
