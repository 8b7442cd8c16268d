/**
 * The layer rules in eslint.config.mjs bite: code placed at a layer's path that imports what
 * the layer may not is an ESLint error. ESLint runs in a child process (its flat config is an
 * ES module, which jest's CommonJS sandbox cannot import), on snippets given through stdin as if
 * they were files at the path named.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const ESLINT = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

interface LintMessage {
  readonly ruleId: string | null;
  readonly message: string;
}

function lint(args: readonly string[], stdin?: string): LintMessage[] {
  const run = spawnSync(process.execPath, [ESLINT, '--format', 'json', ...args], {
    cwd: ROOT,
    input: stdin,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (run.status !== 0 && run.status !== 1) throw new Error(`eslint exited ${run.status}: ${run.stderr}`);
  const results = JSON.parse(run.stdout) as { messages: LintMessage[] }[];
  return results.flatMap((r) => r.messages);
}

/** Errors of the given rule for `code` placed at `path` (relative to the repository root). */
function layerErrors(path: string, code: string, rule: string): string[] {
  return lint(['--stdin', '--stdin-filename', path], code)
    .filter((m) => m.ruleId === rule)
    .map((m) => m.message);
}

jest.setTimeout(120_000);

describe('layers enforced by lint', () => {
  it.each([
    ['an adapter', "import { S3Store } from '../adapters/s3-store';\nexport const s = S3Store;\n"],
    ['a handler', "import { handler } from '../handlers/plan-backup';\nexport const h = handler;\n"],
    ['the CLI', "import * as cli from '../../cli/restore';\nexport const c = cli;\n"],
    ['CDK code', "import * as stack from '../../cdk/lib/promvault-stack';\nexport const s = stack;\n"],
  ])('the core may not import %s', (_what, code) => {
    expect(layerErrors('lambdas/core/layer-probe.ts', code, 'import-x/no-restricted-paths')).toEqual([
      expect.stringContaining('The core is pure'),
    ]);
  });

  it.each([
    ['the AWS SDK', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n"],
    ['aws-cdk-lib', "import { Stack } from 'aws-cdk-lib';\nexport const s = Stack;\n"],
  ])('the core may not import %s', (_what, code) => {
    expect(layerErrors('lambdas/core/layer-probe.ts', code, 'no-restricted-imports')).toHaveLength(1);
  });

  it('an adapter may not import a handler', () => {
    const code = "import { HANDLERS } from '../handlers/contracts';\nexport const h = HANDLERS;\n";
    expect(layerErrors('lambdas/adapters/layer-probe.ts', code, 'import-x/no-restricted-paths')).toEqual([
      expect.stringContaining('import no handler'),
    ]);
  });

  it('the core may import the core, and a handler may import adapters and the core', () => {
    const core = "import { formatIso } from './time';\nexport const f = formatIso;\n";
    expect(lint(['--stdin', '--stdin-filename', 'lambdas/core/layer-probe.ts'], core)).toEqual([]);
    const handler =
      "import { openStore } from '../adapters/open-store';\nimport { formatIso } from '../core/time';\nexport const x = [openStore, formatIso];\n";
    expect(lint(['--stdin', '--stdin-filename', 'lambdas/handlers/layer-probe.ts'], handler)).toEqual([]);
  });

  describe('no import cycles', () => {
    const dir = join(ROOT, 'lambdas', 'core', `cycle-probe-${process.pid}`);
    beforeAll(() => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'a.ts'), "import { b } from './b';\nexport const a = (): number => b() + 1;\n");
      writeFileSync(join(dir, 'b.ts'), "import { a } from './a';\nexport const b = (): number => a() - 1;\n");
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('two modules that import each other are an error', () => {
      const cycles = lint([join(dir, 'a.ts'), join(dir, 'b.ts')]).filter((m) => m.ruleId === 'import-x/no-cycle');
      expect(cycles).toHaveLength(2);
    });
  });
});
