/**
 * Pieces both state machines share: Lambda tasks with the transient-error Retry, the pair of
 * shard Maps (inline for small plans, distributed over an S3 plan for large ones), and the
 * state machine defaults (log group, X-Ray).
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { SHARD_RETRY, type ShardRetryPolicy } from '../../../lambdas/core/retry';
import { HANDLERS } from '../../../lambdas/handlers/contracts';
import { ShardTimeoutError } from '../../../lambdas/handlers/errors';
import type { ArchiveBucket, ArchiveDir } from './archive-bucket';

/** Error names worth retrying: the core's (SHARD_RETRY), the handlers' transient class, and Lambda service faults. */
export const TRANSIENT_ERRORS: readonly string[] = [
  ...SHARD_RETRY.errors,
  ShardTimeoutError.name,
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** A shared retry policy as a Step Functions Retry on `errors`. */
export function retryProps(policy: ShardRetryPolicy, errors: readonly string[]): sfn.RetryProps {
  return {
    errors: [...errors],
    interval: Duration.millis(policy.intervalMs),
    backoffRate: policy.backoffRate,
    maxAttempts: policy.maxAttempts,
    maxDelay: Duration.millis(policy.maxDelayMs),
    jitterStrategy: { full: sfn.JitterType.FULL }[policy.jitter],
  };
}

/** SHARD_RETRY, the CLI's policy too: exponential backoff with full jitter. */
export const TRANSIENT_RETRY: sfn.RetryProps = retryProps(SHARD_RETRY, TRANSIENT_ERRORS);

/**
 * ASL state names are unique per state machine, so the shard Task inside the distributed Map
 * carries this suffix: BackupShard (inline Map) and BackupShardFromS3 (distributed Map) run the
 * same function.
 */
export const DISTRIBUTED_SUFFIX = 'FromS3';

/** The handler (key of HANDLERS) a Task state runs, or undefined for states that are not Lambda tasks. */
export function handlerOfState(stateName: string): keyof typeof HANDLERS | undefined {
  const base = stateName.endsWith(DISTRIBUTED_SUFFIX) ? stateName.slice(0, -DISTRIBUTED_SUFFIX.length) : stateName;
  return (Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]).find((k) => HANDLERS[k] === base);
}

export interface LambdaTaskOptions {
  /** Payload fields (values may be JsonPath references). @default the whole state input */
  readonly payload?: Record<string, unknown>;
  /** Where the result goes in the state. @default '$' (the result replaces the state) */
  readonly resultPath?: string;
}

/** A Task invoking `fn` directly (Resource = function ARN), named `stateName`, with TRANSIENT_RETRY. */
export function lambdaTask(
  scope: Construct,
  stateName: string,
  fn: lambda.IFunction,
  options: LambdaTaskOptions = {},
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, stateName, {
    lambdaFunction: fn,
    payloadResponseOnly: true,
    // Replaced by TRANSIENT_RETRY, which covers the same Lambda faults with jitter.
    retryOnServiceExceptions: false,
    ...(options.payload !== undefined ? { payload: sfn.TaskInput.fromObject(options.payload) } : {}),
    ...(options.resultPath !== undefined ? { resultPath: options.resultPath } : {}),
  });
  task.addRetry(TRANSIENT_RETRY);
  return task;
}

/** Reads the plan's JSON array from the archive; grants reading that folder only. */
class PlanItemReader extends sfn.S3JsonItemReader {
  constructor(
    private readonly archive: ArchiveBucket,
    private readonly dir: ArchiveDir,
  ) {
    const p = archive.keyPrefix;
    // planKey is a store key; the bucket key has the configured prefix in front.
    const key =
      p === '' ? sfn.JsonPath.stringAt('$.planKey') : sfn.JsonPath.format(`${p}{}`, sfn.JsonPath.stringAt('$.planKey'));
    super({ bucket: archive.bucket, key });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.archive.bucket.arnForObjects(this.archive.keysOf(this.dir))],
      }),
    ];
  }
}

/** Map Run results go to `<dir>/map-results/` (they are not read: the store is the truth), never into the state. */
class MapResultWriter extends sfn.ResultWriterV2 {
  private readonly objects: string;

  constructor(archive: ArchiveBucket, dir: ArchiveDir) {
    const prefix = `${archive.keyPrefix}${dir}/map-results`;
    super({ bucket: archive.bucket, prefix });
    this.objects = archive.bucket.arnForObjects(`${prefix}/*`);
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.objects],
      }),
    ];
  }
}

export interface ShardMapsProps {
  /** Task state name of the per-shard handler, a HANDLERS value. */
  readonly taskName: string;
  readonly fn: lambda.IFunction;
  readonly archive: ArchiveBucket;
  /** Folder holding the plans the distributed Map reads and its Map Run results. */
  readonly planDir: ArchiveDir;
  /** Fixed MaxConcurrency, or a path to it in the state. */
  readonly concurrency: { readonly maxConcurrency: number } | { readonly maxConcurrencyPath: string };
}

/**
 * The same per-shard processor in two Maps: inline over `$.shards`, and distributed over the JSON
 * array at `$.planKey`. A failing shard is caught (its item result records the error) so the Map
 * goes on; results are discarded because the next step reads the manifests from the store.
 */
export function shardMaps(
  scope: Construct,
  props: ShardMapsProps,
): { inline: sfn.Map; distributed: sfn.DistributedMap } {
  const processor = (suffix: string) => {
    const task = lambdaTask(scope, `${props.taskName}${suffix}`, props.fn);
    task.addCatch(new sfn.Pass(scope, `${props.taskName}${suffix}Failed`), {
      errors: ['States.ALL'],
      resultPath: '$.error',
    });
    return task;
  };
  const inline = new sfn.Map(scope, `${props.taskName}s`, {
    itemsPath: '$.shards',
    resultPath: sfn.JsonPath.DISCARD,
    ...props.concurrency,
  }).itemProcessor(processor(''));
  const distributed = new sfn.DistributedMap(scope, `${props.taskName}s${DISTRIBUTED_SUFFIX}`, {
    itemReader: new PlanItemReader(props.archive, props.planDir),
    resultWriterV2: new MapResultWriter(props.archive, props.planDir),
    resultPath: sfn.JsonPath.DISCARD,
    // Shard failures are caught per item; a child execution failing otherwise must not hide the rest.
    toleratedFailurePercentage: 100,
    mapExecutionType: sfn.StateMachineType.STANDARD,
    ...props.concurrency,
  }).itemProcessor(processor(DISTRIBUTED_SUFFIX));
  return { inline, distributed };
}

export interface WorkflowMachineProps {
  readonly definition: sfn.IChainable;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel: sfn.LogLevel;
  readonly timeout: Duration;
  readonly comment: string;
}

/** A Standard state machine with its own log group (execution data off) and X-Ray tracing. */
export function workflowMachine(scope: Construct, id: string, props: WorkflowMachineProps): sfn.StateMachine {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: props.logRetention });
  return new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    stateMachineType: sfn.StateMachineType.STANDARD,
    timeout: props.timeout,
    comment: props.comment,
    tracingEnabled: true,
    logs: { destination: logGroup, level: props.logLevel, includeExecutionData: false },
  });
}
