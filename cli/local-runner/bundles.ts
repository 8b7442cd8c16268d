/**
 * `--bundled`: the Lambda code `cdk deploy` uploads, run by the local runner. The app is
 * synthesized with local esbuild bundling (as `cdk synth` does) into a temporary cloud
 * assembly; each function's asset directory is found through its Code.S3Key (`<hash>.zip` is
 * the asset `asset.<hash>`), and its Handler (`index.handler`) names the file and the export.
 * The module is imported from there, so it resolves nothing from this repository's
 * node_modules: a missing external, an ESM/CJS mismatch or a bad banner fails as in Lambda.
 *
 * Each Task then calls the exported handler itself, with its own adapters, configured through
 * the environment as Lambda configures it (PROMVAULT_CONFIG, AWS_ENDPOINT_URL_S3, LOG_LEVEL; a
 * directory store through PROMVAULT_STORE_DIR). Ports from this process would not do: the
 * bundle's error classes are its own, so its `instanceof` checks would miss ours.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { InputError, PermanentError } from '../../lambdas/core/errors';
import type { LambdaContext } from '../../lambdas/handlers/middleware';
import { buildPromvault, FEATURE_FLAGS, SKIP_BUNDLING_KEY } from '../../cdk/lib/synth';
import { asInputError } from './inputs';
import type { CfnTemplate } from './tokens';

/** The function a bundle exports for Lambda to invoke. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

export interface BundledAssembly {
  readonly template: CfnTemplate;
  /** The cloud assembly directory (cdk.out) holding the asset directories. */
  readonly directory: string;
  /** Function logical ID → the handler its bundle exports. */
  readonly handlers: ReadonlyMap<string, LambdaHandler>;
  /** Removes the assembly and restores the environment. */
  readonly dispose: () => void;
}

/** The bundle's own entry: a dynamic import that neither tsc nor esbuild turns into require(). */
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>;

/**
 * Synthesizes with bundling into a temporary assembly and imports every function's bundle, with
 * `env(template)` set in the environment (the bundles read it when loaded and when invoked) until
 * dispose().
 */
export async function loadBundledAssembly(
  context: Record<string, unknown>,
  env: (template: CfnTemplate) => Record<string, string | undefined>,
): Promise<BundledAssembly> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'promvault-bundled-'));
  const saved: Record<string, string | undefined> = {};
  const dispose = () => {
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    fs.rmSync(directory, { recursive: true, force: true });
  };
  try {
    let template: CfnTemplate;
    try {
      const app = new App({ outdir: directory, context: { ...FEATURE_FLAGS, ...context, [SKIP_BUNDLING_KEY]: false } });
      const stack = buildPromvault(app);
      template = app.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
    } catch (err) {
      throw asInputError(err);
    }
    for (const [k, v] of Object.entries(env(template))) {
      saved[k] = process.env[k];
      setEnv(k, v);
    }
    const handlers = new Map<string, LambdaHandler>();
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      handlers.set(id, await loadBundle(directory, id, resource.Properties ?? {}));
    }
    return { template, directory, handlers, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

function setEnv(key: string, value: string | undefined) {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}

async function loadBundle(directory: string, id: string, props: Record<string, unknown>): Promise<LambdaHandler> {
  const code = props.Code as { S3Key?: unknown } | undefined;
  const hash = typeof code?.S3Key === 'string' ? /^([0-9a-f]{64})\.zip$/.exec(code.S3Key)?.[1] : undefined;
  const handler = typeof props.Handler === 'string' ? /^(.+)\.([A-Za-z_$][\w$]*)$/.exec(props.Handler) : null;
  if (hash === undefined || handler === null)
    throw new InputError(`function ${id} of the template has no bundled asset (Code ${JSON.stringify(code)})`);
  const assetDir = path.join(directory, `asset.${hash}`);
  const file = ['.mjs', '.js', '.cjs'].map((ext) => path.join(assetDir, handler[1]! + ext)).find(fs.existsSync);
  if (file === undefined) throw new InputError(`function ${id}: ${assetDir} has no ${handler[1]}.mjs/.js/.cjs`);
  const where = `the bundle of ${id} (${path.basename(file)}, Handler ${String(props.Handler)})`;
  let exported: Record<string, unknown>;
  try {
    exported = await importModule(pathToFileURL(file).href);
  } catch (err) {
    throw new BundleError(`${where} does not load: ${(err as Error).message}`, { cause: err });
  }
  const fn = exported[handler[2]!];
  if (typeof fn !== 'function') throw new BundleError(`${where} does not export a function ${handler[2]}`);
  return fn as LambdaHandler;
}

/** A synthesized bundle that would fail in Lambda. */
export class BundleError extends PermanentError {}
