/**
 * Issue 15, the fault suite in CI: `npm run faults -- --json` runs every fault of
 * test/faults/faults.ts against real servers and must report each one injected and recovered,
 * with no sample lost or changed, no partial object visible and no false success. And one defect
 * it found: a backup whose S3 server died mid-run exited 2 ("bad input") instead of 1.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { FAULTS, GATE, runFault } from '../faults/faults';
import { startWorld } from '../faults/world';

const RUN = path.resolve(__dirname, '../faults/run.ts');

function runSuite(): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', RUN, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 330_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, lines: stdout.trim().split('\n'), stderr });
    });
  });
}

test('every fault is injected and recovered: nothing lost, changed, partial or falsely successful', async () => {
  const { code, lines, stderr } = await runSuite();
  const last = lines.at(-1) ?? '';
  const summary: unknown = last.startsWith('{') ? JSON.parse(last) : `no JSON line last; stderr: ${stderr}`;
  expect({ summary, failing: lines.filter((l) => l.startsWith('FAIL')), code }).toEqual({
    summary: {
      faults_injected: GATE.length,
      runs_recovered: GATE.length,
      samples_lost: 0,
      samples_changed: 0,
      partial_objects_visible: 0,
      false_successes: 0,
    },
    failing: [],
    code: 0,
  });
}, 360_000);

test('a backup whose S3 server is killed mid-upload fails as a run (exit 1), not as bad input (exit 2)', async () => {
  const world = await startWorld();
  try {
    const outcome = await runFault(
      world,
      FAULTS.find((f) => f.name === 's3-killed-mid-upload')!,
    );
    expect({ run: outcome.run, recovered: outcome.recovered }).toEqual({ run: 'exit 1', recovered: true });
    expect(outcome.error).toMatch(/127\.0\.0\.1/);
  } finally {
    await world.stop();
  }
}, 120_000);
