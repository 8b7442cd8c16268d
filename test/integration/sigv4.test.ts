/**
 * Issue 16, SigV4 for Amazon Managed Prometheus: the CLI signs remote read (backup) and remote
 * write (restore) for a local proxy that checks every signature independently (sigv4-proxy.ts)
 * in front of real Prometheus servers, with credentials from the AWS default chain (the
 * environment here). A wrong secret key is refused with the proxy's 403, named, and nothing
 * secret (key, session token, signature) reaches the output.
 */
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { startSigV4Proxy, type SigV4Proxy } from '../harness/sigv4-proxy';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli, type CliResult } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples } from '../harness/compare';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { parseSelector } from '../../lambdas/core/prom/selector';
import type { TimeWindow } from '../../lambdas/core/types';

const REGION = 'eu-west-1';
const KEY_ID = 'AKIAPROMVAULTSIGV4T1';
const SECRET = 'pv/Sigv4+TestSecretKey0123456789abcdefXYZ';
const TOKEN = 'IQoJb3JpZ2luX2VjEPromvaultSessionToken0123456789';
const CREDENTIALS = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN };
// No profile, file or instance role is consulted: the chain stops at the environment.
const CHAIN_ENV = {
  AWS_PROFILE: '',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
};

let source: HistoryServer;
let target: PrometheusServer;
let sourceProxy: SigV4Proxy;
let targetProxy: SigV4Proxy;
let work: string;
let window: TimeWindow;

const iso = (ms: number) => new Date(ms).toISOString();
const range = (store: string) => ['--store', store, '--from', iso(window.startMs), '--to', iso(window.endMs)];
const everything = parseSelector('{__name__=~".+"}');

beforeAll(async () => {
  [source, target, work] = await Promise.all([
    startPrometheusWithHistory('small'),
    startPrometheus(),
    makeTempDir('sigv4-test'),
  ]);
  const keys = { [KEY_ID]: SECRET };
  [sourceProxy, targetProxy] = await Promise.all([
    startSigV4Proxy(source.url, { keys, region: REGION }),
    startSigV4Proxy(target.url, { keys, region: REGION }),
  ]);
  window = { startMs: source.corpus.startMs, endMs: source.corpus.startMs + 30 * 60_000 };
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), sourceProxy?.stop(), targetProxy?.stop()]);
  if (work) await removeDir(work);
});

function expectNoSecret(res: CliResult): void {
  for (const text of [res.stdout, res.stderr]) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(encodeURIComponent(SECRET));
    expect(text).not.toContain(TOKEN);
    expect(text).not.toMatch(/Signature=[0-9a-f]{64}/);
  }
}

const sign = ['--sigv4-region', REGION];
const store = () => path.join(work, 'store');

test('a backup over remote read through the checking proxy is signed, complete and exact', async () => {
  const res = await runCli(
    ['backup', '--source', sourceProxy.url, '--source-name', 'amp', ...sign, ...range(store()), '--json'],
    {
      env: { ...CHAIN_ENV, ...CREDENTIALS },
    },
  );
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(sourceProxy.refused).toEqual([]);
  expect(sourceProxy.accepted).toBeGreaterThan(0);
  const expected = await collectSeries(new HttpRemoteReader({ url: source.remoteReadUrl }).read(window, everything));
  expect(res.json?.samples).toBe(totalSamples(expected));
  expectNoSecret(res);
});

test('a restore over remote write through the checking proxy is signed and lands bit-exact', async () => {
  const res = await runCli(
    ['restore', ...range(store()), '--target', `${targetProxy.url}/api/v1/write`, ...sign, '--json'],
    {
      env: { ...CHAIN_ENV, ...CREDENTIALS },
    },
  );
  expect(res.code).toBe(0);
  expect(targetProxy.refused).toEqual([]);
  expect(targetProxy.accepted).toBeGreaterThan(1);
  const expected = await collectSeries(new HttpRemoteReader({ url: source.remoteReadUrl }).read(window, everything));
  const restored = await collectSeries(new HttpRemoteReader({ url: target.remoteReadUrl }).read(window, everything));
  expect(diffSeries(expected, restored)).toEqual([]);
  expect(res.json?.samples).toBe(totalSamples(expected));
  expectNoSecret(res);
});

test('a wrong secret key is refused by the proxy with 403: named, nothing written, no secret shown', async () => {
  const before = targetProxy.accepted;
  const res = await runCli(
    ['restore', ...range(store()), '--target', `${targetProxy.url}/api/v1/write`, ...sign, '--json'],
    {
      env: { ...CHAIN_ENV, ...CREDENTIALS, AWS_SECRET_ACCESS_KEY: SECRET.replace('Secret', 'Wrong!') },
    },
  );
  // The probe's refusal: bad input, nothing written (the same exit as refused basic auth).
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/HTTP 403/);
  expect(res.stderr).toMatch(/SigV4 check failed: the signature does not match/);
  expect(res.stderr).toMatch(/Nothing was written/);
  expect(targetProxy.accepted).toBe(before);
  expect(targetProxy.refused.at(-1)).toBe('the signature does not match');
  expectNoSecret(res);
  expect(res.stderr).not.toContain(SECRET.replace('Secret', 'Wrong!'));

  const read = await runCli(
    [
      'backup',
      '--source',
      sourceProxy.url,
      '--source-name',
      'amp',
      ...sign,
      ...range(path.join(work, 'other')),
      '--json',
    ],
    {
      env: { ...CHAIN_ENV, ...CREDENTIALS, AWS_SECRET_ACCESS_KEY: SECRET.replace('Secret', 'Wrong!') },
    },
  );
  expect(read.code).not.toBe(0);
  expect(read.stderr).toMatch(/HTTP 403/);
  expect(read.stderr).toMatch(/signed with SigV4/);
  expectNoSecret(read);
});

test('without --sigv4-region the proxy refuses the unsigned request', async () => {
  const res = await runCli(['restore', ...range(store()), '--target', `${targetProxy.url}/api/v1/write`, '--json'], {
    env: { ...CHAIN_ENV, ...CREDENTIALS },
  });
  expect(res.code).toBe(2);
  expect(res.stderr).toMatch(/missing Authorization header/);
});
