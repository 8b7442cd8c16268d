/**
 * `npx cdk synth` works offline, without AWS credentials and without Docker: every handler is
 * bundled by the local esbuild and cdk-nag's AwsSolutions checks pass at synth.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeDir } from '../harness/ports';

const ROOT = path.resolve(__dirname, '../..');

it('synthesizes the stack with bundled handlers, no credentials, no Docker', async () => {
  const out = await makeTempDir('cdk-synth');
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: process.env.PATH?.split(':')
        .filter((p) => !p.includes('docker'))
        .join(':'),
    };
    for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
    env.CDK_DOCKER = '/nonexistent/docker';
    const res = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', out], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(res.stderr).not.toMatch(/AwsSolutions-|Error:/);
    expect(res.status).toBe(0);
    const template = JSON.parse(readFileSync(path.join(out, 'Promvault.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::StepFunctions::StateMachine')).toHaveLength(2);
    expect(types.filter((t) => t === 'AWS::Lambda::Function').length).toBeGreaterThanOrEqual(7);
    const bundles = readdirSync(out).filter(
      (d) => d.startsWith('asset.') && readdirSync(path.join(out, d)).includes('index.mjs'),
    );
    expect(bundles.length).toBeGreaterThanOrEqual(7);
  } finally {
    await removeDir(out);
  }
});
