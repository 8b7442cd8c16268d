/**
 * A /federate capture on a fake clock that a test can SIGKILL at an exact store step.
 *
 * The fake source answers, at each tick, one sample per series stamped with the tick's time,
 * with hostile label values (every escape) and values (NaN, ±Inf, -0). The fake clock moves only
 * when the capture sleeps, so every run takes the same steps.
 *
 * As a child process (`node --require tsx/cjs test/harness/crash-federate.ts`): CRASH_STORE is
 * the store, CRASH_MODE `capture` runs CAPTURE_TICKS ticks from FED_START, `compact` runs one
 * empty fetch long after, so every window with snapshots is compacted. CRASH_KILL_AT
 * `<n>:<before|during|after>` SIGKILLs the process at that phase of its n-th store call.
 */
import { openStore } from '../../lambdas/adapters/open-store';
import { runCapture, type CaptureInput } from '../../lambdas/core/federate/capture';
import type { FederateScraper, ObjectStore } from '../../lambdas/core/ports';
import { parseExposition } from '../../lambdas/core/prom/exposition';
import type { SeriesPiece } from '../../lambdas/core/types';
import { sampleLines } from './crash-backup';
import { RecordingStore, type StepPhase } from './recording-store';

/** 5 s into a 30 s window, so the first window is compacted at the fourth tick. */
export const FED_START = Date.UTC(2026, 0, 1, 12, 0, 5);
export const FED_INPUT: CaptureInput = {
  source: 'fedcrash',
  selectors: [''],
  intervalMs: 10_000,
  durationMs: 50_000,
  shardLengthMs: 30_000,
};
export const CAPTURE_TICKS = 5;

const VALUES = ['NaN', '+Inf', '-Inf', '-0', '0.1', '1e+300'];

/** The exposition text the fake source answers at `nowMs`. */
export function federateText(nowMs: number): string {
  const tick = Math.round((nowMs - FED_START) / 1000);
  const lines = ['# HELP crash_metric a "help" with \\\\ and \\n', '# TYPE crash_metric gauge'];
  for (let s = 0; s < 3; s++) {
    const value = VALUES[(tick + s) % VALUES.length];
    lines.push(`crash_metric{s="${s}",tricky="q\\"uote\\\\back\\nline ü"} ${value} ${nowMs}`);
  }
  return lines.join('\n') + '\n';
}

/** The samples of one tick's answer, as sampleLines writes them. */
export function tickSamples(nowMs: number): string[] {
  const parsed = parseExposition(federateText(nowMs));
  const pieces: SeriesPiece[] = parsed.labels.map((labels, i) => ({
    labels,
    timestamps: parsed.timestamps.slice(i, i + 1),
    values: parsed.values.slice(i, i + 1),
  }));
  return sampleLines(pieces);
}

export interface FakeClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export function fakeClock(startMs: number): FakeClock {
  let t = startMs;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += Math.max(0, ms);
    },
  };
}

export function fakeScraper(clock: FakeClock, text: (nowMs: number) => string = federateText): FederateScraper {
  return { endpoint: 'fake:/federate', scrape: async () => text(clock.now()) };
}

/** A capture of FED_INPUT from FED_START, or (`compact`) one empty fetch after every window ended. */
export function runFederate(store: ObjectStore, mode: 'capture' | 'compact') {
  const clock = fakeClock(mode === 'capture' ? FED_START : FED_START + 600_000);
  return runCapture(
    {
      scraper: fakeScraper(clock, mode === 'capture' ? federateText : () => ''),
      store,
      nowMs: clock.now,
      sleep: clock.sleep,
    },
    mode === 'capture' ? FED_INPUT : { ...FED_INPUT, durationMs: 1 },
  );
}

async function main(): Promise<void> {
  const env = process.env;
  const m = /^(\d+):(before|during|after)$/.exec(env.CRASH_KILL_AT ?? '');
  const kill = m === null ? undefined : { call: Number(m[1]), phase: m[2] as StepPhase };
  const store = new RecordingStore(openStore(env.CRASH_STORE!), (index, _call, phase) => {
    if (kill !== undefined && index === kill.call && phase === kill.phase) process.kill(process.pid, 'SIGKILL');
  });
  const report = await runFederate(store, env.CRASH_MODE === 'compact' ? 'compact' : 'capture');
  process.stdout.write(`${JSON.stringify({ report, calls: store.calls })}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
