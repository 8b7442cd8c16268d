/**
 * The one Lambda shape every promvault handler runs in: Node.js 22 on arm64, bundled locally by
 * esbuild as ESM with source maps, class names kept (Step Functions Retry/Catch match on error
 * names), its own log group and a role that starts empty. X-Ray tracing is off: the handlers
 * create no segments (the state machines trace the runs); pass `tracing` to turn it on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { VpcConfig } from '../config';

/**
 * Root of this repository: the esbuild project root and where package-lock.json lives. Searched
 * upwards: the CLI bundle (dist/promvault.js) holds this code at another depth than the source.
 */
export const REPO_ROOT = findUp(__dirname, 'package-lock.json') ?? path.resolve(__dirname, '..', '..', '..');
export const DEFAULT_HANDLERS_DIR = path.join(REPO_ROOT, 'lambdas', 'handlers');

export interface PromvaultFunctionProps extends Omit<
  NodejsFunctionProps,
  'entry' | 'handler' | 'code' | 'logRetention'
> {
  /** Module under `handlersDir` exporting `handler`, without extension, e.g. 'plan-backup'. */
  readonly handlerModule: string;
  /** PROMVAULT_CONFIG: the RuntimeConfig as JSON (may hold tokens). */
  readonly runtimeConfigJson: string;
  /** Directory of the handler modules. @default lambdas/handlers of this repository */
  readonly handlersDir?: string;
  /** Deploy a stub that throws instead of the esbuild bundle (infrastructure unit tests). @default false */
  readonly skipBundling?: boolean;
  /** Retention of the function's log group. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetentionDays?: logs.RetentionDays;
  /** Private subnets and security groups to reach a Prometheus in a VPC. @default no VPC */
  readonly network?: VpcConfig;
}

function findUp(dir: string, file: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, file))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Lets esbuild's ESM output load CommonJS dependencies that call require(). */
const ESM_REQUIRE_SHIM =
  "import { createRequire as __pvCreateRequire } from 'node:module'; const require = __pvCreateRequire(import.meta.url);";

/** Stub code for infrastructure tests: fails loudly if ever deployed. */
const STUB_CODE =
  "exports.handler = async () => { throw new Error('promvault stub: synthesized with promvault:skipBundling'); };";

/** Secure, reproducible defaults; the constructor merges caller props over them. */
export function promvaultFunctionDefaults(props: PromvaultFunctionProps): NodejsFunctionProps {
  const common: NodejsFunctionProps = {
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 512,
    timeout: Duration.minutes(5),
    tracing: lambda.Tracing.DISABLED,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: {
      PROMVAULT_CONFIG: props.runtimeConfigJson,
      NODE_OPTIONS: '--enable-source-maps',
    },
  };
  if (props.skipBundling === true) {
    return { ...common, code: lambda.Code.fromInline(STUB_CODE), handler: 'index.handler' };
  }
  return {
    ...common,
    entry: path.join(props.handlersDir ?? DEFAULT_HANDLERS_DIR, `${props.handlerModule}.ts`),
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_SHIM,
      minify: true,
      // Error class names are what Retry/Catch match on: minification must not rename them.
      keepNames: true,
      sourceMap: true,
      sourceMapMode: SourceMapMode.DEFAULT,
      sourcesContent: false,
      // The SDK version we test against, not whatever the runtime ships.
      bundleAwsSDK: true,
      // Native snappy has a binary per platform; the bundle uses its pure-JS fallback instead.
      externalModules: ['snappy'],
      tsconfig: path.join(REPO_ROOT, 'tsconfig.json'),
    },
  };
}

export class PromvaultFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: PromvaultFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays ?? logs.RetentionDays.ONE_MONTH,
    });
    // An empty role: every permission is granted explicitly (no AWS managed policies).
    const role =
      props.role ??
      new iam.Role(scope, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `promvault ${props.handlerModule}`,
      });
    const network = props.network === undefined ? {} : networkProps(scope, id, props.network, role);
    const {
      handlerModule: _m,
      runtimeConfigJson: _c,
      handlersDir: _d,
      skipBundling: _s,
      logRetentionDays: _r,
      network: _n,
      ...rest
    } = props;
    const defaults = promvaultFunctionDefaults(props);
    super(scope, id, {
      ...defaults,
      ...network,
      ...rest,
      environment: { ...defaults.environment, ...rest.environment },
      ...(defaults.bundling !== undefined ? { bundling: { ...defaults.bundling, ...rest.bundling } } : {}),
      role,
      logGroup,
    });
    logGroup.grantWrite(role);
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime the handlers are built and tested for (issue requirement); move with them.',
    });
  }
}

function networkProps(scope: Construct, id: string, vpc: VpcConfig, role: iam.IRole): Partial<NodejsFunctionProps> {
  // Attributes, not Vpc.fromLookup: synth must work offline, without AWS credentials.
  const imported = ec2.Vpc.fromVpcAttributes(scope, `${id}Vpc`, {
    vpcId: vpc.vpcId,
    availabilityZones: Stack.of(scope).availabilityZones,
  });
  // Lambda creates its network interfaces with the function's role; these actions take no resource ARN.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
    }),
  );
  return {
    vpc: imported,
    vpcSubnets: { subnets: vpc.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(scope, `${id}Subnet${i}`, s)) },
    securityGroups: vpc.securityGroupIds.map((g, i) =>
      ec2.SecurityGroup.fromSecurityGroupId(scope, `${id}Sg${i}`, g, { mutable: false }),
    ),
  };
}
