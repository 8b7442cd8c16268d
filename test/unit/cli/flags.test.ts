/** --version, and `run … --dry-run`: the plan is printed and nothing is started or written. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../../harness/cli';
import { makeTempDir, removeDir } from '../../harness/ports';
import { version } from '../../../package.json';

let work: string;
beforeAll(async () => {
  work = await makeTempDir('cli-flags');
});
afterAll(async () => {
  if (work) await removeDir(work);
});

/** `promvault run <what> … --dry-run` over the first two hours of 2026, with a store that must stay absent. */
const runDry = (what: string, store: string, ...extra: string[]) =>
  runCli([
    'run',
    what,
    '--from',
    '2026-01-01T00:00:00Z',
    '--to',
    '2026-01-01T02:00:00Z',
    '--store',
    store,
    '--dry-run',
    ...extra,
  ]);

test('--version prints the package version', async () => {
  const res = await runCli(['--version']);
  expect(res.code).toBe(0);
  expect(res.stdout.trim()).toBe(version);
});

test('run backup --dry-run prints the execution it would start, starts nothing, creates no store', async () => {
  const store = path.join(work, 'backup-store');
  const res = await runDry('backup', store, '--source-name', 'prod', '--json');
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.json).toEqual({
    dry_run: true,
    mode: 'local',
    execution: expect.stringMatching(/^backup-prod-/),
    input: { source: 'prod', from: '2026-01-01T00:00:00Z', to: '2026-01-01T02:00:00Z' },
    store,
  });
  expect(existsSync(store)).toBe(false);
});

test('run restore --dry-run prints the plan in words, starts nothing, creates no store', async () => {
  const store = path.join(work, 'restore-store');
  const res = await runDry('restore', store, '--match', '{job="api"}');
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/^restore plan \(local, store .*restore-store\): execution restore-\S+ with input /);
  expect(res.stdout).toContain('"selectors":["{job=\\"api\\"}"]');
  expect(res.stdout).toContain('nothing started: --dry-run');
  expect(existsSync(store)).toBe(false);
});

test('run --aws --dry-run still checks the state machine ARN', async () => {
  const res = await runCli([
    'run',
    'restore',
    '--aws',
    '--state-machine-arn',
    'not-an-arn',
    '--from',
    '2026-01-01T00:00:00Z',
    '--to',
    '2026-01-01T02:00:00Z',
    '--dry-run',
  ]);
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/--state-machine-arn/);
});

describe('backup --source-mode', () => {
  const backup = (...extra: string[]) =>
    runCli(['backup', '--store', path.join(work, 'mode-store'), '--from', 'now-2h', '--to', 'now-1h', ...extra]);

  it.each([
    [['--source', 'http://127.0.0.1:9', '--source-mode', 'federate'], /--source-mode.*federate.*remote-read, query/],
    [
      ['--source', 'http://127.0.0.1:9/api/v1/read', '--source-mode', 'query'],
      /is a remote-read URL, but --source-mode query reads the HTTP query API: give the base URL .*http:\/\/127\.0\.0\.1:9\//,
    ],
    [['--source', 'http://127.0.0.1:9', '--max-samples-per-query', '5000'], /is for --source-mode query only/],
    [['--source', 'http://127.0.0.1:9', '--source-mode', 'query', '--max-samples-per-query', '10'], /from 1000 to/],
  ])('refuses %p before any work (exit 2)', async (args, message) => {
    const res = await backup(...args);
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(2);
    expect(existsSync(path.join(work, 'mode-store'))).toBe(false);
  });
});
