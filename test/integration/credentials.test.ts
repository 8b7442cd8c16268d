/**
 * Issue 15, "Credentials printed": one known password is planted in every place a CLI user can
 * put one (URL user info of --source/--target/--against, --basic-auth, token and user:password
 * files, the environment, --header/--target-header values), every command runs on its success
 * and failure paths (endpoint down, 401 echoing what it was sent), and stdout, stderr and every
 * file written (store, manifests, exports) are searched for it, in its plain and encoded forms.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startFakeRemoteWrite, type FakeRemoteWrite } from '../harness/fake-remote-write';
import { freePort, makeTempDir, removeDir } from '../harness/ports';
import { runCli, type CliResult } from '../harness/cli';

const PASSWORD = 'Pw-9f3kQz-S3cret';
const FORMS = [PASSWORD, Buffer.from(`admin:${PASSWORD}`).toString('base64'), encodeURIComponent(PASSWORD)];

let prom: HistoryServer;
let accepting: FakeRemoteWrite;
let echo401: Server;
let echoUrl: string;
let downUrl: string;
let work: string;
const outputs: { what: string; text: string }[] = [];

/** Answers 401 and quotes back every header it was sent, as some proxies do. */
function startEcho401(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'Content-Type': 'text/plain' });
      res.end(`unauthorized: ${JSON.stringify(req.headers)}`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  [prom, accepting, echo401, work] = await Promise.all([
    startPrometheusWithHistory('small'),
    startFakeRemoteWrite(() => ({ status: 204 })),
    startEcho401(),
    makeTempDir('credentials'),
  ]);
  echoUrl = `127.0.0.1:${(echo401.address() as AddressInfo).port}`;
  downUrl = `127.0.0.1:${await freePort()}`;
  await writeFile(path.join(work, 'token'), PASSWORD + '\n');
  await writeFile(path.join(work, 'basic'), `admin:${PASSWORD}\n`);
});

afterAll(async () => {
  await Promise.all([
    prom?.stop(),
    accepting?.stop(),
    echo401 && new Promise<void>((resolve) => echo401.close(() => resolve())),
  ]);
  if (work) await removeDir(work);
});

const withAuth = (hostPort: string, suffix = '') => `http://admin:${PASSWORD}@${hostPort}${suffix}`;
const hostOf = (url: string) => new URL(url).host;

async function run(what: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const res = await runCli(args, { env, timeoutMs: 120_000 });
  outputs.push({ what: `${what} stdout`, text: res.stdout }, { what: `${what} stderr`, text: res.stderr });
  return res;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

test('no password, token or header value reaches any output or file, on success or failure', async () => {
  const store = path.join(work, 'store');
  const from = String(prom.corpus.startMs / 1000);
  const to = String((prom.corpus.startMs + prom.corpus.durationMs) / 1000);
  const promHost = hostOf(prom.url);
  const backup = ['backup', '--store', store, '--from', from, '--to', to, '--source-name', 'prod'];
  const select = ['--store', store, '--from', from, '--to', to];
  const orgHeader = `X-Scope-OrgID: ${PASSWORD}`;

  // Backups that succeed, with the password in the URL, in a header, and in each auth source.
  for (const json of [[], ['--json']]) {
    const ok = await run('backup url', [...backup, '--source', withAuth(promHost), '--header', orgHeader, ...json]);
    expect(ok.code).toBe(0);
  }
  expect((await run('backup flag', [...backup, '--source', prom.url, '--basic-auth', `admin:${PASSWORD}`])).code).toBe(
    0,
  );
  const basicFile = ['--basic-auth-file', path.join(work, 'basic')];
  expect((await run('backup file', [...backup, '--source', prom.url, ...basicFile, '--json'])).code).toBe(0);
  const env = { PROMVAULT_BEARER_TOKEN: PASSWORD };
  expect((await run('backup env', [...backup, '--source', prom.url, '--json'], env)).code).toBe(0);

  // Backups that fail: the source down, the source refusing (and quoting) the credentials,
  // both kinds of credentials at once.
  const token = ['--bearer-token-file', path.join(work, 'token')];
  for (const json of [[], ['--json']]) {
    // One retry: the retry warning is an output too, and the full policy would wait minutes.
    const retryOnce = ['--retries', '1'];
    expect((await run('backup down', [...backup, '--source', withAuth(downUrl), ...retryOnce, ...json])).code).not.toBe(
      0,
    );
    const refused = await run('backup 401', [...backup, '--source', withAuth(echoUrl), '--header', orgHeader, ...json]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/401/);
    expect(
      (await run('backup 401 token', [...backup, '--source', `http://${echoUrl}`, ...token, ...json])).code,
    ).not.toBe(0);
    expect((await run('backup both', [...backup, '--source', prom.url, ...basicFile, ...token, ...json])).code).toBe(2);
  }

  // Restores: accepted, target down, target refusing; credentials in the URL, a header, a file, the environment.
  const targetPath = '/api/v1/write';
  for (const json of [[], ['--json']]) {
    const ok = await run('restore url', [
      'restore',
      ...select,
      '--target',
      withAuth(hostOf(accepting.url), targetPath),
      '--target-header',
      `Authorization: Bearer ${PASSWORD}`,
      ...json,
    ]);
    expect(ok.code).toBe(0);
    expect(accepting.acceptedSamples).toBeGreaterThan(0);
    const down = await run('restore down', [
      'restore',
      ...select,
      '--target',
      withAuth(downUrl, targetPath),
      '--retries',
      '1',
      ...json,
    ]);
    expect(down.code).not.toBe(0);
    const refused = await run('restore 401', [
      'restore',
      ...select,
      '--target',
      withAuth(echoUrl, targetPath),
      '--target-header',
      orgHeader,
      ...json,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toMatch(/401/);
    const tokenFile = ['--target-bearer-token-file', path.join(work, 'token')];
    const refusedToken = await run('restore 401 token', [
      'restore',
      ...select,
      '--target',
      `http://${echoUrl}${targetPath}`,
      ...tokenFile,
      ...json,
    ]);
    expect(refusedToken.code).not.toBe(0);
    const refusedEnv = await run(
      'restore 401 env',
      ['restore', ...select, '--target', `http://${echoUrl}${targetPath}`, ...json],
      { PROMVAULT_TARGET_BASIC_AUTH: `admin:${PASSWORD}` },
    );
    expect(refusedEnv.code).not.toBe(0);
    const flag = ['--target-basic-auth', `admin:${PASSWORD}`];
    const refusedFlag = await run('restore 401 flag', [
      'restore',
      ...select,
      '--target',
      `http://${echoUrl}${targetPath}`,
      ...flag,
      ...json,
    ]);
    expect(refusedFlag.code).not.toBe(0);
    expect(refusedFlag.stderr).toMatch(/process list/);
  }

  // verify against the source (ok, down, refusing), inspect, export to a file and to stdout.
  for (const json of [[], ['--json']]) {
    expect((await run('verify', ['verify', '--store', store, '--against', withAuth(promHost), ...json])).code).toBe(0);
    expect(
      (await run('verify down', ['verify', '--store', store, '--against', withAuth(downUrl), ...json])).code,
    ).not.toBe(0);
    const refused = await run('verify 401', ['verify', '--store', store, '--against', withAuth(echoUrl), ...json], env);
    expect(refused.code).not.toBe(0);
    expect((await run('inspect', ['inspect', '--store', store, ...json])).code).toBe(0);
    const out = path.join(work, `export${json.length}.om`);
    expect((await run('export', ['export', ...select, '--out', out, ...json])).code).toBe(0);
    expect((await run('export -', ['export', ...select, '--out', '-', ...json])).code).toBe(0);
  }

  for (const file of await filesUnder(work)) {
    if (['token', 'basic'].includes(path.basename(file))) continue;
    outputs.push({ what: path.relative(work, file), text: await readFile(file, 'utf8') });
  }
  expect(outputs.filter((o) => o.what.includes('manifest')).length).toBeGreaterThan(0);
  const hits = outputs.flatMap((o) => FORMS.filter((f) => o.text.includes(f)).map((f) => `${o.what}: ${f}`));
  expect(hits).toEqual([]);
});
