/** FederateCapture: one scheduled invocation captures a federate-mode source and compacts completed windows. */
import { SourceUnavailableError } from '../../../lambdas/core/errors';
import type { FederateScraper } from '../../../lambdas/core/ports';
import { readManifest } from '../../../lambdas/core/manifest';
import { listPendingWindows } from '../../../lambdas/core/federate/compact';
import { createHandler, type FederateCaptureOutput } from '../../../lambdas/handlers/federate-capture';
import { HOUR, invoke, lambdaContext, listKeys, makeWorld, T0, testConfig, type TestWorld } from './fixtures';

/** Answers like /federate: the newest sample of one series, stamped with the fake clock's time. */
class FakeScraper implements FederateScraper {
  readonly endpoint = 'http://prom:9090/federate';
  readonly selectors: string[] = [];
  /** Set once the test world (and its clock) exists. */
  world: TestWorld | undefined;
  constructor(private readonly failAt: ReadonlySet<number> = new Set()) {}
  async scrape(selector: string): Promise<string> {
    this.selectors.push(selector);
    if (this.failAt.has(this.selectors.length)) throw new SourceUnavailableError('prom answered 503');
    const now = this.world!.now;
    return `# TYPE up gauge\nup{job="prom"} ${now % 7} ${now}\n`;
  }
}

const federateConfig = (selectors: string[] = []) =>
  testConfig({
    federateSources: [{ name: 'fed', url: 'http://prom:9090', intervalMs: 15_000, selectors, shardLengthMs: HOUR }],
  });

describe('FederateCapture', () => {
  let world: TestWorld;
  afterEach(() => world.cleanup());

  async function capture(scraper: FakeScraper, remainingMs = 120_000, selectors: string[] = []) {
    world = await makeWorld({ config: federateConfig(selectors), deps: { scraper: () => scraper } });
    scraper.world = world;
    world.now = T0 + HOUR - 30_000;
    return invoke<FederateCaptureOutput>(createHandler(world.deps), { source: 'fed' }, lambdaContext(remainingMs));
  }

  it('captures one minute at the interval, commits snapshots and compacts the completed window', async () => {
    const scraper = new FakeScraper();
    const out = await capture(scraper);
    // Fetches at -30s, -15s, 0s and +15s around the end of the hour: the one at 0s closes the first window.
    expect(out).toEqual({
      source: 'fed',
      snapshots: 4,
      series: 1,
      samples: 4,
      compacted_shards: 1,
      fetches: 4,
      failed_fetches: 0,
      failed_compactions: 0,
      pending_windows: 1,
      conflicting_samples: 0,
    });
    expect(scraper.selectors).toEqual(['', '', '', '']);
    const manifests = await listKeys(world.store, 'manifests/fed/');
    expect(manifests).toHaveLength(1);
    const m = await readManifest(world.store, manifests[0]!);
    expect([m.start_ms, m.end_ms, m.samples]).toEqual([T0, T0 + HOUR, 2]);
    // The first window's snapshots are gone once compacted; the open window's wait for the next run.
    const waiting = await listPendingWindows(world.store, 'fed');
    expect(waiting.map((r) => r.window.startMs)).toEqual([T0 + HOUR]);
  });

  it('fetches each configured selector', async () => {
    const scraper = new FakeScraper();
    await capture(scraper, 120_000, ['{job="prom"}']);
    expect(new Set(scraper.selectors)).toEqual(new Set(['{job="prom"}']));
  });

  it('fails the invocation when a fetch failed, after committing what it captured', async () => {
    await expect(capture(new FakeScraper(new Set([2])))).rejects.toThrow(
      /capture of fed is incomplete: 1 of 4 fetches failed, 0 compactions failed .*3 snapshots were committed.*prom answered 503/,
    );
    expect(await listKeys(world.store, 'manifests/fed/')).toHaveLength(1);
  });

  it('refuses to start with too little time left to capture one interval', async () => {
    await expect(capture(new FakeScraper(), 50_000)).rejects.toThrow(
      /has 10s to capture, less than the interval 15s: give the function a timeout of at least 1m40s/,
    );
  });

  it('names the federate sources when asked for another', async () => {
    world = await makeWorld({ config: federateConfig() });
    await expect(invoke(createHandler(world.deps), { source: 'prod' }, lambdaContext(120_000))).rejects.toThrow(
      /source "prod" is not a federate-mode source; configured: fed/,
    );
  });
});
