/**
 * The restore state machine, started by hand with a RestoreInput:
 *
 *   PlanRestore ─► Thaw ─► ThawComplete? ─ pending > 0 ─► WaitForThaw (or WaitForExpeditedThaw) ─► Thaw ...
 *                                        └ pending = 0 ─► RestoreMode ─┬─ inline ─► RestoreShards ───────┬─► Report ─► RestoreOutcome
 *                                                                      └─ s3 ─────► RestoreShardsFromS3 ─┘
 *
 * Report writes the report to S3 and returns its summary; the run fails (RestoreIncomplete)
 * when any shard was not restored, after every other shard was.
 */
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { HANDLERS } from '../../../lambdas/handlers/contracts';
import type { ArchiveBucket } from './archive-bucket';
import { lambdaTask, shardMaps, workflowMachine } from './workflow-parts';

export interface RestoreWorkflowProps {
  readonly archive: ArchiveBucket;
  readonly planRestore: lambda.IFunction;
  readonly thaw: lambda.IFunction;
  readonly restoreShard: lambda.IFunction;
  readonly report: lambda.IFunction;
  /** Shards restored in parallel. @default 4 */
  readonly shardConcurrency?: number;
  /** Wait between two Thaw polls. @default 5 minutes */
  readonly pollInterval?: Duration;
  /** Wait between two Thaw polls for Expedited retrievals (1-5 minutes). @default 1 minute */
  readonly expeditedPollInterval?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default sfn.LogLevel.ALL (execution data is never logged) */
  readonly logLevel?: sfn.LogLevel;
  /** Bulk retrievals from Deep Archive take up to 48 hours. @default 7 days */
  readonly timeout?: Duration;
}

export class RestoreWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const plan = lambdaTask(this, HANDLERS.planRestore, props.planRestore);
    // The Thaw result goes beside the plan, which the Maps still need.
    const thaw = lambdaTask(this, HANDLERS.thaw, props.thaw, {
      payload: { 'runId.$': '$.runId', 'planKey.$': '$.planKey', 'thawTier.$': '$.thawTier' },
      resultPath: '$.thaw',
    });
    const report = lambdaTask(this, HANDLERS.report, props.report, {
      payload: { 'runId.$': '$.runId', 'planKey.$': '$.planKey' },
    });
    const maps = shardMaps(this, {
      taskName: HANDLERS.restoreShard,
      fn: props.restoreShard,
      archive: props.archive,
      planDir: 'restores',
      concurrency: { maxConcurrency: props.shardConcurrency ?? 4 },
    });
    const outcome = new sfn.Choice(this, 'RestoreOutcome')
      .when(
        sfn.Condition.numberGreaterThan('$.failed_shards', 0),
        new sfn.Fail(this, 'RestoreIncomplete', {
          error: 'ShardsFailedError',
          causePath: sfn.JsonPath.format(
            '{} of {} shards were not restored; report at {}',
            sfn.JsonPath.stringAt('$.failed_shards'),
            sfn.JsonPath.stringAt('$.shards'),
            sfn.JsonPath.stringAt('$.reportKey'),
          ),
        }),
      )
      .otherwise(new sfn.Succeed(this, 'Restored'));
    report.next(outcome);
    const mode = new sfn.Choice(this, 'RestoreMode')
      .when(sfn.Condition.stringEquals('$.mode', 'inline'), maps.inline.next(report))
      .when(sfn.Condition.stringEquals('$.mode', 's3'), maps.distributed.next(report))
      .otherwise(
        new sfn.Fail(this, 'UnknownPlanMode', {
          error: 'PlanModeError',
          cause: "PlanRestore returned a mode other than 'inline' or 's3'",
        }),
      );
    const wait = (name: string, interval: Duration) =>
      new sfn.Wait(this, name, { time: sfn.WaitTime.duration(interval) }).next(thaw);
    const pending = sfn.Condition.numberGreaterThan('$.thaw.pending', 0);
    const thawed = new sfn.Choice(this, 'ThawComplete')
      .when(
        sfn.Condition.and(pending, sfn.Condition.stringEquals('$.thaw.thawTier', 'Expedited')),
        wait('WaitForExpeditedThaw', props.expeditedPollInterval ?? Duration.minutes(1)),
      )
      .when(pending, wait('WaitForThaw', props.pollInterval ?? Duration.minutes(5)))
      .otherwise(mode);
    plan.next(thaw).next(thawed);

    this.stateMachine = workflowMachine(this, 'StateMachine', {
      definition: plan,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      logLevel: props.logLevel ?? sfn.LogLevel.ALL,
      timeout: props.timeout ?? Duration.days(7),
      comment: 'promvault restore: plan, thaw archived shards, replay them by remote write, report',
    });
    props.archive.grantKeyUse(this.stateMachine, true);
  }
}
