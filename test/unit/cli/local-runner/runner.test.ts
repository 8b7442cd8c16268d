/**
 * The synthesized backup and restore state machines run locally end to end, with fake
 * Prometheus readers and remote-write targets injected through the handlers' deps and a
 * directory store: both Map flavours (inline, and Distributed over the plan in the store), the
 * Retry path, the Catch path and the failed runs' reports. No network.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBackupLocally, runRestoreLocally, type LocalRunOptions } from '../../../../cli/local-runner/api';
import { fileSecrets, localRuntimeConfig } from '../../../../cli/local-runner/local-deps';
import type { ExecutionEvent } from '../../../../cli/local-runner/runner';
import {
  InputError,
  SourceRejectedError,
  SourceUnavailableError,
  TargetRejectedError,
} from '../../../../lambdas/core/errors';
import type { PrometheusReader, RemoteWriter, WriteBatch } from '../../../../lambdas/core/ports';
import { formatIso } from '../../../../lambdas/core/time';
import { FakeReader, HOUR, T0, testConfig } from '../../handlers/fixtures';

// Each context is synthesized once (a few seconds); the runs themselves take well under a second.
jest.setTimeout(60_000);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-local-runner-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const context = (inlinePlanLimit: number) => ({
  promvault: {
    sources: [{ name: 'prod', remoteReadUrl: 'http://prom-a:9090', shardLength: '1h' }],
    restore: { targetUrl: 'http://target:9090/api/v1/write' },
    inlinePlanLimit,
  },
});

/** A reader that fails once for window X (transient) and always for window Y (permanent). */
function faultyReader(faults: { transientOnce?: number; permanent?: number }, calls: Map<number, number>) {
  return (url: string): PrometheusReader => {
    const inner = new FakeReader(url);
    return {
      endpoint: url,
      async *read(window, matchers, options) {
        const n = (calls.get(window.startMs) ?? 0) + 1;
        calls.set(window.startMs, n);
        if (window.startMs === faults.transientOnce && n === 1)
          throw new SourceUnavailableError(`remote read from ${url} failed: 503`);
        if (window.startMs === faults.permanent) throw new SourceRejectedError(`remote read from ${url} failed: 400`);
        yield* inner.read(window, matchers, options);
      },
    };
  };
}

class CountingWriter implements RemoteWriter {
  samples = 0;
  constructor(
    readonly endpoint: string,
    private readonly rejectAt?: number,
  ) {}
  async write(batch: WriteBatch): Promise<void> {
    if (
      this.rejectAt !== undefined &&
      batch.series.some((s) => s.timestamps[0]! >= this.rejectAt! && s.timestamps[0]! < this.rejectAt! + HOUR)
    )
      throw new TargetRejectedError('400 out of bounds');
    this.samples += batch.samples;
  }
}

const names = (events: ExecutionEvent[]) => new Set(events.flatMap((e) => ('state' in e ? [e.state.name] : [])));

describe.each([
  ['inline Map', 100, 'BackupShards'],
  ['Distributed Map over the plan in the store', 2, 'BackupShardsFromS3'],
])('backup through the %s', (_name, inlinePlanLimit, mapState) => {
  it('retries a transient fault, catches a permanent one, commits the rest; a re-run fills the gap', async () => {
    const calls = new Map<number, number>();
    const events: ExecutionEvent[] = [];
    const base: LocalRunOptions = { context: context(inlinePlanLimit), store: dir, fast: true, logLevel: 'silent' };
    const range = { sourceName: 'prod', from: T0, to: T0 + 6 * HOUR };
    const first = await runBackupLocally({
      ...base,
      ...range,
      deps: (d) => ({ ...d, reader: faultyReader({ transientOnce: T0 + HOUR, permanent: T0 + 3 * HOUR }, calls) }),
      onEvent: (e) => events.push(e),
    });
    expect(first).toMatchObject({
      mode: 'local',
      status: 'FAILED',
      error: 'ShardsFailedError',
      source: 'prod',
      shards: 6,
      committed: 5,
      failed: 1,
      skipped: 0,
      samples: 5 * 120,
      checkpoint_ms: T0 + 3 * HOUR,
      failures: [
        {
          shard: `${formatIso(T0 + 3 * HOUR)}/${formatIso(T0 + 4 * HOUR)}`,
          error: 'SourceRejectedError',
          message: expect.stringContaining('400'),
        },
      ],
    });
    expect(first.message).toMatch(/1 of 6 shards of source prod/);
    expect(first.stored_bytes).toBeGreaterThan(0);
    expect(calls.get(T0 + HOUR)).toBe(2); // the Retry path
    expect(calls.get(T0 + 3 * HOUR)).toBe(1); // permanent: caught, not retried
    expect(events.some((e) => e.type === 'StateRetried' && e.state.name.startsWith('BackupShard'))).toBe(true);
    expect(names(events).has(mapState)).toBe(true);
    expect(names(events).has('BackupShardsFromS3.ReadItems')).toBe(inlinePlanLimit < 6);

    const second = await runBackupLocally({
      ...base,
      ...range,
      deps: (d) => ({ ...d, reader: (u) => new FakeReader(u) }),
    });
    expect(second).toMatchObject({
      status: 'SUCCEEDED',
      shards: 6,
      committed: 6,
      skipped: 5,
      failed: 0,
      samples: 6 * 120,
      checkpoint_ms: T0 + 6 * HOUR,
      failures: [],
    });
    expect(second.error).toBeUndefined();
  });
});

describe('the Lambda timeout', () => {
  it("is the function's, from the template: the handler's guard stops a hung shard, Step Functions retries it", async () => {
    const ctx = context(100);
    const promvault = { ...ctx.promvault, functions: { backupShard: { timeout: '11s' } } };
    const calls = new Map<number, number>();
    const result = await runBackupLocally({
      context: { promvault },
      store: dir,
      fast: true,
      logLevel: 'silent',
      sourceName: 'prod',
      from: T0,
      to: T0 + 2 * HOUR,
      deps: (d) => ({
        ...d,
        reader: (url) => {
          const hanging = new FakeReader(url, undefined, true);
          const fine = new FakeReader(url);
          return {
            endpoint: url,
            read: (w, m, o) => {
              const n = (calls.get(w.startMs) ?? 0) + 1;
              calls.set(w.startMs, n);
              return (w.startMs === T0 && n === 1 ? hanging : fine).read(w, m, o);
            },
          };
        },
      }),
    });
    expect(result).toMatchObject({ status: 'SUCCEEDED', committed: 2, failed: 0 });
    expect(calls.get(T0)).toBe(2); // stopped by ShardTimeoutError 10 s before the 11 s timeout, then retried
  });
});

describe('restore', () => {
  it('replays every shard; a shard the target rejects fails the run (RestoreIncomplete) after the others', async () => {
    const base: LocalRunOptions = { context: context(2), store: dir, fast: true, logLevel: 'silent', preflight: false };
    await runBackupLocally({
      ...base,
      sourceName: 'prod',
      from: T0,
      to: T0 + 6 * HOUR,
      deps: (d) => ({ ...d, reader: (u) => new FakeReader(u) }),
    });

    const good = new CountingWriter('http://target:9090/api/v1/write');
    const ok = await runRestoreLocally({
      ...base,
      from: T0,
      to: T0 + 6 * HOUR,
      deps: (d) => ({ ...d, writer: () => good }),
    });
    expect(ok).toMatchObject({
      mode: 'local',
      status: 'SUCCEEDED',
      shards: 6,
      restored: 6,
      failed_shards: 0,
      samples: 720,
    });
    expect(ok.report_key).toMatch(/^restores\/.+\/report\.json$/);
    expect(good.samples).toBe(720);

    const picky = new CountingWriter('http://target:9090/api/v1/write', T0 + 2 * HOUR);
    const bad = await runRestoreLocally({
      ...base,
      from: T0,
      to: T0 + 6 * HOUR,
      deps: (d) => ({ ...d, writer: () => picky }),
    });
    expect(bad).toMatchObject({
      status: 'FAILED',
      error: 'ShardsFailedError',
      message: expect.stringMatching(/^1 of 6 shards were not restored; report at restores\//),
      shards: 6,
      restored: 5,
      failed_shards: 1,
      samples: 600,
      failures: [{ error: 'TargetRejectedError', shard: expect.stringMatching(/^manifests\//) }],
    });
  });
});

describe('validation before work', () => {
  it('refuses an unknown source, a bad range and a bad config before the store is created', async () => {
    const store = path.join(dir, 'never');
    const base = { context: context(100), store, logLevel: 'silent' as const };
    await expect(runBackupLocally({ ...base, sourceName: 'nope' })).rejects.toThrow(
      /--source-name nope is not a configured source; configured: prod/,
    );
    await expect(runBackupLocally({ ...base, sourceName: 'prod', from: 'now', to: 'now-1h' })).rejects.toThrow(
      /--from: .* is not before --to/,
    );
    await expect(
      runBackupLocally({ ...base, context: { promvault: { sources: [] } }, sourceName: 'prod' }),
    ).rejects.toThrow(InputError);
    await expect(runRestoreLocally({ ...base, from: 'now-1h', to: 'now', match: ['{job=~"api"'] })).rejects.toThrow();
    await expect(runRestoreLocally({ ...base, from: 'now-1h', to: 'now', target: 'ftp://x' })).rejects.toThrow(
      /--target/,
    );
    await expect(runBackupLocally({ ...base, sourceName: 'prod', sourceUrl: 'not a url' })).rejects.toThrow(
      /--source-url/,
    );
    await expect(readdir(store)).rejects.toThrow(/ENOENT/);
  });
});

describe('local deps', () => {
  it('--source-url replaces the source URL and drops its credentials (they are for the configured URL)', () => {
    const config = testConfig();
    const local = localRuntimeConfig(config, { sourceName: 'prod', sourceUrl: 'http://127.0.0.1:9999' });
    expect(local.sources[0]).toMatchObject({ remoteReadUrls: ['http://127.0.0.1:9999/api/v1/read'] });
    expect(local.sources[0]!.credentialsSecretName).toBeUndefined();
    expect(localRuntimeConfig(config)).toBe(config);
  });

  it('secrets come from a file; a missing one says how to give it', async () => {
    const file = path.join(dir, 'secrets.json');
    await require('node:fs/promises').writeFile(file, JSON.stringify({ 'prom-creds': { bearerToken: 't' } }));
    await expect(fileSecrets(file).credentials('prom-creds')).resolves.toEqual({ bearerToken: 't' });
    await expect(fileSecrets(file).credentials('other')).rejects.toThrow(/secret other .*does not have it/);
    await expect(fileSecrets(undefined).credentials('x')).rejects.toThrow(/no --secrets-file/);
    expect(() => fileSecrets(path.join(dir, 'none.json'))).toThrow(/--secrets-file/);
  });
});
