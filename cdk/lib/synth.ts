/**
 * Builds the promvault app: the one place the configuration is read from context, the stack
 * created and cdk-nag enabled. Used by cdk/bin/app.ts (the CDK CLI) and, in process, by the
 * local runner and the tests through synthesizeTemplate().
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTEXT_KEY, parseConfig } from './config';
import { REPO_ROOT } from './constructs/promvault-function';
import { PromvaultStack } from './promvault-stack';

/** Context key: true deploys stub code instead of esbuild bundles (fast, for tests and the local runner). */
export const SKIP_BUNDLING_KEY = 'promvault:skipBundling';
/** Context key: directory holding the handler modules, default lambdas/handlers. */
export const HANDLERS_DIR_KEY = 'promvault:handlersDir';

/** Feature flags the stack is written for; context from cdk.json or the CLI takes precedence. */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  // Access logs are delivered under a bucket policy (the log bucket enforces bucket-owner ACLs).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  // Renders DistributedMap.resultWriterV2 (Map Run results go to S3, never into the state).
  '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true,
};

const truthy = (v: unknown) => v === true || v === 'true';

/** Adds the promvault stack, configured from the app's context, and the cdk-nag AwsSolutions checks. */
export function buildPromvault(app: App): PromvaultStack {
  const config = parseConfig(app.node.tryGetContext(CONTEXT_KEY));
  const handlersDir: unknown = app.node.tryGetContext(HANDLERS_DIR_KEY);
  const stack = new PromvaultStack(app, config.stackName, {
    config,
    skipBundling: truthy(app.node.tryGetContext(SKIP_BUNDLING_KEY)),
    ...(typeof handlersDir === 'string' ? { handlersDir: path.resolve(REPO_ROOT, handlersDir) } : {}),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

/** The `context` of this repository's cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * Synthesizes the app in process and returns the stack's CloudFormation template.
 * `context` defaults to cdk.json's; bundling is skipped unless the context sets
 * `promvault:skipBundling` to false. Throws ConfigError on a bad value and on cdk-nag findings.
 */
export function synthesizeTemplate(context?: object): object {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'promvault-synth-'));
  try {
    const app = new App({
      outdir,
      context: { ...FEATURE_FLAGS, [SKIP_BUNDLING_KEY]: true, ...(context ?? cdkJsonContext()) },
    });
    const stack = buildPromvault(app);
    return app.synth().getStackArtifact(stack.artifactId).template as object;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
