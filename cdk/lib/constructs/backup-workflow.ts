/**
 * The backup state machine, one definition run per source (input {"source": name}):
 *
 *   PlanBackup ─► [SelectConcurrency] ─► PlanMode ─┬─ inline ─► BackupShards (Map over $.shards) ───────────┬─► CommitBackup
 *                                                  └─ s3 ─────► BackupShardsFromS3 (Distributed, $.planKey) ┘
 *
 * CommitBackup advances the checkpoint over what was committed and throws ShardsFailedError when
 * a planned shard has no manifest, so the run fails visibly after keeping what succeeded.
 */
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { HANDLERS } from '../../../lambdas/handlers/contracts';
import type { ArchiveBucket } from './archive-bucket';
import { lambdaTask, shardMaps, workflowMachine } from './workflow-parts';

export interface BackupWorkflowProps {
  readonly archive: ArchiveBucket;
  readonly planBackup: lambda.IFunction;
  readonly backupShard: lambda.IFunction;
  readonly commitBackup: lambda.IFunction;
  /** Shards pulled in parallel, per source name. @default 4 for every source */
  readonly concurrencyBySource?: Readonly<Record<string, number>>;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default sfn.LogLevel.ALL (execution data is never logged) */
  readonly logLevel?: sfn.LogLevel;
  /** A run longer than this fails (and alarms). @default 24 hours */
  readonly timeout?: Duration;
}

export const DEFAULT_SHARD_CONCURRENCY = 4;

export class BackupWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: BackupWorkflowProps) {
    super(scope, id);
    const plan = lambdaTask(this, HANDLERS.planBackup, props.planBackup);
    const commit = lambdaTask(this, HANDLERS.commitBackup, props.commitBackup, {
      payload: {
        'source.$': '$.source',
        'runId.$': '$.runId',
        'planKey.$': '$.planKey',
        'plannedAtMs.$': '$.plannedAtMs',
      },
    });
    const { concurrency, select } = this.concurrency(props.concurrencyBySource ?? {});
    const maps = shardMaps(this, {
      taskName: HANDLERS.backupShard,
      fn: props.backupShard,
      archive: props.archive,
      planDir: 'plans',
      concurrency,
    });
    const mode = new sfn.Choice(this, 'PlanMode')
      .when(sfn.Condition.stringEquals('$.mode', 'inline'), maps.inline.next(commit))
      .when(sfn.Condition.stringEquals('$.mode', 's3'), maps.distributed.next(commit))
      .otherwise(
        new sfn.Fail(this, 'UnknownPlanMode', {
          error: 'PlanModeError',
          cause: "PlanBackup returned a mode other than 'inline' or 's3'",
        }),
      );
    if (select === undefined) plan.next(mode);
    else plan.next(select(mode));

    this.stateMachine = workflowMachine(this, 'StateMachine', {
      definition: plan,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      logLevel: props.logLevel ?? sfn.LogLevel.ALL,
      timeout: props.timeout ?? Duration.hours(24),
      comment: 'promvault backup of one source: plan, back up shards, commit the checkpoint',
    });
    props.archive.grantKeyUse(this.stateMachine, true);
  }

  /**
   * One value for every source: a fixed MaxConcurrency. Different values: a Choice on $.source
   * stores the source's value at $.maxConcurrency (JSONPath cannot look a key up by value).
   */
  private concurrency(bySource: Readonly<Record<string, number>>): {
    concurrency: { maxConcurrency: number } | { maxConcurrencyPath: string };
    select?: (next: sfn.IChainable) => sfn.Choice;
  } {
    const values = [...new Set(Object.values(bySource))].sort((a, b) => a - b);
    if (values.length <= 1) return { concurrency: { maxConcurrency: values[0] ?? DEFAULT_SHARD_CONCURRENCY } };
    const fallback = values[0]!;
    return {
      concurrency: { maxConcurrencyPath: '$.maxConcurrency' },
      select: (next) => {
        const use = (n: number) =>
          new sfn.Pass(this, `Concurrency${n}`, {
            result: sfn.Result.fromNumber(n),
            resultPath: '$.maxConcurrency',
          }).next(next);
        const choice = new sfn.Choice(this, 'SelectConcurrency');
        for (const n of values.slice(1)) {
          const sources = Object.keys(bySource).filter((s) => bySource[s] === n);
          const conditions = sources.map((s) => sfn.Condition.stringEquals('$.source', s));
          choice.when(conditions.length === 1 ? conditions[0]! : sfn.Condition.or(...conditions), use(n));
        }
        // The lowest value for a source this stack does not know (PlanBackup rejects those anyway).
        return choice.otherwise(use(fallback));
      },
    };
  }
}
