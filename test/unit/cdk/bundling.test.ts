/**
 * The one test that really bundles: esbuild runs locally (Docker is made unusable), offline, and
 * the bundle keeps error class names, which is what Step Functions Retry/Catch match on.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { PromvaultFunction, REPO_ROOT } from '../../../cdk/lib/constructs/promvault-function';

const PROBE = `
import { SourceUnavailableError } from ${JSON.stringify(path.join(REPO_ROOT, 'lambdas/core/errors'))};
import { ShardsFailedError } from ${JSON.stringify(path.join(REPO_ROOT, 'lambdas/handlers/errors'))};
export const handler = async (event: { kind: string }) => {
  if (event.kind === 'transient') throw new SourceUnavailableError('prometheus is down');
  throw new ShardsFailedError('prod', ['k'], '1 shard failed');
};
`;

let work: string;
let outdir: string;
let savedDocker: string | undefined;

beforeAll(() => {
  // Under the project root (esbuild runs there, from node_modules/.bin), in a git-ignored cache folder.
  const cache = path.join(REPO_ROOT, 'node_modules', '.cache');
  fs.mkdirSync(cache, { recursive: true });
  work = fs.mkdtempSync(path.join(cache, 'promvault-bundle-'));
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'promvault-bundle-out-'));
  fs.mkdirSync(path.join(work, 'handlers'));
  // A placeholder handler outside lambdas/handlers/, importing the real error classes.
  fs.writeFileSync(path.join(work, 'handlers', 'probe.ts'), PROBE);
  savedDocker = process.env.CDK_DOCKER;
  process.env.CDK_DOCKER = path.join(work, 'no-docker-here');
});

afterAll(() => {
  if (savedDocker === undefined) delete process.env.CDK_DOCKER;
  else process.env.CDK_DOCKER = savedDocker;
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(outdir, { recursive: true, force: true });
});

test('esbuild bundles locally: ESM, source map, error class names kept', () => {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bundle');
  new PromvaultFunction(stack, 'Probe', {
    handlerModule: 'probe',
    handlersDir: path.join(work, 'handlers'),
    runtimeConfigJson: '{}',
  });
  const assembly = app.synth();
  const assets = fs.readdirSync(assembly.directory).filter((f) => f.startsWith('asset.'));
  expect(assets).toHaveLength(1);
  const dir = path.join(assembly.directory, assets[0]!);
  expect(fs.readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
  const code = fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8');
  expect(code).toMatch(/sourceMappingURL=index\.mjs\.map/);
  expect(code.length).toBeLessThan(10_000); // minified

  const run = (kind: string) =>
    execFileSync(
      process.execPath,
      [
        '--enable-source-maps',
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(path.join(dir, 'index.mjs'))});
         try { await m.handler({ kind: ${JSON.stringify(kind)} }); } catch (e) { console.log(JSON.stringify({ name: e.name, ctor: e.constructor.name, stack: e.stack })); }`,
      ],
      { encoding: 'utf8' },
    );
  const transient = JSON.parse(run('transient')) as { name: string; ctor: string; stack: string };
  expect(transient).toMatchObject({ name: 'SourceUnavailableError', ctor: 'SourceUnavailableError' });
  // Source maps point stack traces at the TypeScript source.
  expect(transient.stack).toMatch(/probe\.ts:\d+/);
  expect(JSON.parse(run('failed'))).toMatchObject({ name: 'ShardsFailedError', ctor: 'ShardsFailedError' });
});
