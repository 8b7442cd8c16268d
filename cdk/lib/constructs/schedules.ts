/**
 * One EventBridge Scheduler schedule per source, starting the backup state machine with
 * {"source": name}. Starts that still fail after the retries land in an encrypted, TLS-only
 * dead-letter queue, which monitoring alarms on.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface ScheduledSource {
  readonly name: string;
  /** rate(...) or cron(...), UTC. */
  readonly expression: string;
}

export interface BackupSchedulesProps {
  readonly stateMachine: sfn.IStateMachine;
  readonly sources: readonly ScheduledSource[];
  /** Attempts to start an execution before the event goes to the DLQ. @default 3 */
  readonly retryAttempts?: number;
  /** Give up on a start older than this. @default 1 hour */
  readonly maxEventAge?: Duration;
  /** Overrides merged over deadLetterQueueDefaults(). @default none */
  readonly deadLetterQueueProps?: sqs.QueueProps;
}

/** Secure defaults for the dead-letter queue. */
export function deadLetterQueueDefaults(): sqs.QueueProps {
  return {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  };
}

export class BackupSchedules extends Construct {
  readonly deadLetterQueue: sqs.Queue;
  readonly schedules: Readonly<Record<string, scheduler.Schedule>>;

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...deadLetterQueueDefaults(),
      ...props.deadLetterQueueProps,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the backup schedules; a DLQ of the DLQ would only hide failures.',
    });
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const source of props.sources) {
      schedules[source.name] = new scheduler.Schedule(this, `Backup-${source.name}`, {
        description: `promvault backup of source ${source.name}`,
        schedule: scheduler.ScheduleExpression.expression(source.expression),
        timeWindow: scheduler.TimeWindow.off(),
        target: new targets.StepFunctionsStartExecution(props.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject({ source: source.name }),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: props.retryAttempts ?? 3,
          maxEventAge: props.maxEventAge ?? Duration.hours(1),
        }),
      });
    }
    this.schedules = schedules;
  }
}
