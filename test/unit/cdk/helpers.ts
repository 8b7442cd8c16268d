/** Shared helpers of the CDK unit tests: build the stack in process (stub code, no network) and read its ASL. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { PromvaultStack } from '../../../cdk/lib/promvault-stack';
import { buildPromvault, FEATURE_FLAGS, SKIP_BUNDLING_KEY } from '../../../cdk/lib/synth';

/** A minimal valid `promvault` context: one source, everything else default. */
export function minimalConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sources: [{ name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090' }],
    ...overrides,
  };
}

/** One folder for every cloud assembly a test file writes, removed when the file is done. */
let outRoot: string | undefined;
afterAll(() => {
  if (outRoot !== undefined) fs.rmSync(outRoot, { recursive: true, force: true });
});

/** A fresh, cleaned-up output directory for an App. */
export function outdir(): string {
  outRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'promvault-cdk-test-'));
  return fs.mkdtempSync(path.join(outRoot, 'app-'));
}

/** Builds the app like cdk/bin/app.ts does, with stub Lambda code. */
export function buildStack(promvault: unknown): { app: App; stack: PromvaultStack; template: Template } {
  const app = new App({ outdir: outdir(), context: { ...FEATURE_FLAGS, [SKIP_BUNDLING_KEY]: true, promvault } });
  const stack = buildPromvault(app);
  return { app, stack, template: Template.fromStack(stack) };
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A CloudFormation intrinsic as a readable placeholder: <Ref:Bucket>, <GetAtt:Fn.Arn>. */
function placeholder(token: Record<string, unknown>): string {
  if ('Ref' in token) return `<Ref:${String(token.Ref)}>`;
  if ('Fn::GetAtt' in token) return `<GetAtt:${(token['Fn::GetAtt'] as string[]).join('.')}>`;
  return `<${Object.keys(token).join(',')}>`;
}

/**
 * The ASL of a state machine. DefinitionString is an Fn::Join of JSON text and token objects
 * (ARNs, names); the tokens always sit inside JSON strings, so placeholders keep it valid JSON.
 */
export function definitionOf(template: Template, logicalIdPrefix: string): { [key: string]: Json } {
  const machines = template.findResources('AWS::StepFunctions::StateMachine');
  const id = Object.keys(machines).find((k) => k.startsWith(logicalIdPrefix));
  if (id === undefined) throw new Error(`no state machine ${logicalIdPrefix}* in ${Object.keys(machines).join(', ')}`);
  const definition = (machines[id] as { Properties: { DefinitionString: unknown } }).Properties.DefinitionString;
  if (typeof definition === 'string') return JSON.parse(definition) as { [key: string]: Json };
  const [separator, parts] = (definition as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const text = parts
    .map((p) => (typeof p === 'string' ? p : placeholder(p as Record<string, unknown>)))
    .join(separator);
  return JSON.parse(text) as { [key: string]: Json };
}

/** Every state of an ASL definition, nested Map processors included, by name. */
export function allStates(definition: { [key: string]: Json }): Record<string, { [key: string]: Json }> {
  const out: Record<string, { [key: string]: Json }> = {};
  const visit = (graph: { [key: string]: Json }) => {
    for (const [name, state] of Object.entries(graph.States as Record<string, { [key: string]: Json }>)) {
      out[name] = state;
      const processor = (state.ItemProcessor ?? state.Iterator) as { [key: string]: Json } | undefined;
      if (processor !== undefined) visit(processor);
    }
  };
  visit(definition);
  return out;
}

/** A CloudFormation ARN expression as text: {"Fn::Join": …} with <Ref> and <Logical.Attribute> placeholders. */
export function flatArn(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatArn).join(separator);
  }
  if ('Ref' in v) return `<${String(v.Ref)}>`;
  if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  return JSON.stringify(value);
}
