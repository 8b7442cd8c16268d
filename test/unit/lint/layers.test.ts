/**
 * The layer rules in eslint.config.mjs bite: a module placed in a layer that imports what the
 * layer may not is an ESLint error. Probe modules are written into each layer's folder and
 * linted in one run of ESLint in a child process (its flat config is an ES module, which jest's
 * CommonJS sandbox cannot import), then removed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const ESLINT = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');
const PROBE_DIR = `lint-probe-${process.pid}`;

interface LintMessage {
  readonly ruleId: string | null;
  readonly message: string;
}

/** Probe modules by name: [layer folder, source]. Imports are relative to <layer>/<PROBE_DIR>/. */
const PROBES: Record<string, readonly [string, string]> = {
  coreImportsAdapter: [
    'lambdas/core',
    "import { S3Store } from '../../adapters/s3-store';\nexport const s = S3Store;\n",
  ],
  coreImportsHandler: [
    'lambdas/core',
    "import { handler } from '../../handlers/plan-backup';\nexport const h = handler;\n",
  ],
  coreImportsCli: ['lambdas/core', "import * as cli from '../../../cli/restore';\nexport const c = cli;\n"],
  coreImportsCdk: ['lambdas/core', "import * as s from '../../../cdk/lib/promvault-stack';\nexport const c = s;\n"],
  coreImportsAwsSdk: ['lambdas/core', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n"],
  coreImportsCdkLib: ['lambdas/core', "import { Stack } from 'aws-cdk-lib';\nexport const s = Stack;\n"],
  coreImportsCore: ['lambdas/core', "import { formatIso } from '../time';\nexport const f = formatIso;\n"],
  adapterImportsHandler: [
    'lambdas/adapters',
    "import { HANDLERS } from '../../handlers/contracts';\nexport const h = HANDLERS;\n",
  ],
  handlerImportsBoth: [
    'lambdas/handlers',
    "import { openStore } from '../../adapters/open-store';\nimport { formatIso } from '../../core/time';\nexport const x = [openStore, formatIso];\n",
  ],
  cycleA: ['lambdas/core', "import { b } from './cycleB';\nexport const a = (): number => b() + 1;\n"],
  cycleB: ['lambdas/core', "import { a } from './cycleA';\nexport const b = (): number => a() - 1;\n"],
};

let messages: Map<string, LintMessage[]>;

beforeAll(() => {
  const files = Object.entries(PROBES).map(([name, [layer, source]]) => {
    const dir = join(ROOT, layer, PROBE_DIR);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, source);
    return file;
  });
  try {
    const run = spawnSync(process.execPath, [ESLINT, '--format', 'json', ...files], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (run.status !== 0 && run.status !== 1) throw new Error(`eslint exited ${run.status}: ${run.stderr}`);
    const results = JSON.parse(run.stdout) as { filePath: string; messages: LintMessage[] }[];
    messages = new Map(results.map((r) => [relative(ROOT, r.filePath).replace(/^.*\/(\w+)\.ts$/, '$1'), r.messages]));
  } finally {
    for (const layer of new Set(Object.values(PROBES).map(([l]) => l))) {
      rmSync(join(ROOT, layer, PROBE_DIR), { recursive: true, force: true });
    }
  }
}, 120_000);

/** Messages of one rule for one probe. */
function errors(probe: string, rule: string): string[] {
  const all = messages.get(probe);
  if (all === undefined) throw new Error(`probe ${probe} was not linted`);
  return all.filter((m) => m.ruleId === rule).map((m) => m.message);
}

describe('layers enforced by lint', () => {
  it.each([
    ['an adapter', 'coreImportsAdapter'],
    ['a handler', 'coreImportsHandler'],
    ['the CLI', 'coreImportsCli'],
    ['CDK code', 'coreImportsCdk'],
  ])('the core may not import %s', (_what, probe) => {
    expect(errors(probe, 'import-x/no-restricted-paths')).toEqual([expect.stringContaining('The core is pure')]);
  });

  it.each([
    ['the AWS SDK', 'coreImportsAwsSdk'],
    ['aws-cdk-lib', 'coreImportsCdkLib'],
  ])('the core may not import %s', (_what, probe) => {
    expect(errors(probe, 'no-restricted-imports')).toHaveLength(1);
  });

  it('an adapter may not import a handler', () => {
    expect(errors('adapterImportsHandler', 'import-x/no-restricted-paths')).toEqual([
      expect.stringContaining('import no handler'),
    ]);
  });

  it('the core may import the core, and a handler may import adapters and the core', () => {
    expect(messages.get('coreImportsCore')).toEqual([]);
    expect(messages.get('handlerImportsBoth')).toEqual([]);
  });

  it('two modules that import each other are an error', () => {
    expect(errors('cycleA', 'import-x/no-cycle')).toHaveLength(1);
    expect(errors('cycleB', 'import-x/no-cycle')).toHaveLength(1);
  });
});
