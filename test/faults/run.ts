/**
 * The fault-injection suite (`npm run faults [-- --json]`): every fault in faults.ts against real
 * servers on 127.0.0.1, one human-readable line per fault, then (with --json) one JSON line last:
 * faults_injected, runs_recovered, samples_lost, samples_changed, partial_objects_visible,
 * false_successes. Exits 1 when any run was a false success, lost or changed a sample, left a
 * partial object visible, or did not recover; or when a fault could not be injected.
 * --open-defects adds the faults that show a reported, unfixed defect; --only=a,b runs the faults
 * whose names contain a or b.
 */
import { FAULTS, GATE, runFault, type FaultOutcome } from './faults';
import { startWorld } from './world';

export interface FaultSummary {
  readonly faults_injected: number;
  readonly runs_recovered: number;
  readonly samples_lost: number;
  readonly samples_changed: number;
  readonly partial_objects_visible: number;
  readonly false_successes: number;
}

export function summarize(outcomes: readonly FaultOutcome[]): FaultSummary {
  const sum = (f: (o: FaultOutcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  return {
    faults_injected: sum((o) => (o.injected ? 1 : 0)),
    runs_recovered: sum((o) => (o.recovered ? 1 : 0)),
    samples_lost: sum((o) => o.lost),
    samples_changed: sum((o) => o.changed),
    partial_objects_visible: sum((o) => o.partialVisible),
    false_successes: sum((o) => (o.falseSuccess ? 1 : 0)),
  };
}

function line(o: FaultOutcome, seconds: number): string {
  const ok = o.injected && o.recovered && !o.falseSuccess && o.partialVisible + o.lost + o.changed === 0;
  const error = o.error === '' ? '' : ` (${o.error.length > 300 ? `${o.error.slice(0, 297)}...` : o.error})`;
  const parts = [
    `${ok ? 'ok  ' : 'FAIL'} ${o.name.padEnd(32)} ${seconds.toFixed(1).padStart(5)} s`,
    `faulted run: ${o.run}${error}`,
    o.injected ? '' : 'fault NOT injected',
    `re-run: ${o.recovered ? 'recovered' : 'NOT recovered'}, ${o.lost} lost, ${o.changed} changed`,
    ...o.notes,
  ];
  return parts.filter((p) => p !== '').join('; ');
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const chosen = process.argv.includes('--open-defects') ? FAULTS : GATE;
  const faults = only === undefined ? chosen : chosen.filter((f) => only.split(',').some((o) => f.name.includes(o)));
  const started = Date.now();
  const world = await startWorld();
  const outcomes: FaultOutcome[] = [];
  try {
    process.stdout.write(
      `fault suite: ${faults.length} faults; source: ${world.expected.size} series, ${world.samples} samples\n`,
    );
    for (const fault of faults) {
      const t0 = Date.now();
      const outcome = await runFault(world, fault);
      outcomes.push(outcome);
      process.stdout.write(`${line(outcome, (Date.now() - t0) / 1000)}\n`);
      if (fault.open !== undefined) process.stdout.write(`     open defect: ${fault.open}\n`);
    }
  } finally {
    await world.stop();
  }
  const summary = summarize(outcomes);
  process.stdout.write(`${faults.length} faults in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `${Object.entries(summary)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}\n`,
    );
  const failed =
    summary.false_successes + summary.samples_lost + summary.samples_changed + summary.partial_objects_visible > 0 ||
    summary.faults_injected !== faults.length ||
    summary.runs_recovered !== faults.length;
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `fault suite failed to run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  });
}
