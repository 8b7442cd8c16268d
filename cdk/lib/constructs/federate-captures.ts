/**
 * Federate-mode sources: one FederateCapture function shared by them, invoked by an EventBridge
 * Scheduler schedule per source every minute (Scheduler's shortest period) with {"source": name}.
 * No backup state machine runs for them: /federate has no history to pull. An invocation that
 * fails is not retried (the next minute's capture follows anyway); what still fails to be
 * delivered goes to the schedules' dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PromvaultFunction } from './promvault-function';

export interface FederateCapturesProps {
  readonly capture: PromvaultFunction;
  /** rate(1 minute): one schedule per federate-mode source. */
  readonly sources: readonly { readonly name: string; readonly expression: string }[];
  readonly deadLetterQueue: sqs.IQueue;
}

export class FederateCaptures extends Construct {
  readonly schedules: Readonly<Record<string, scheduler.Schedule>>;

  constructor(scope: Construct, id: string, props: FederateCapturesProps) {
    super(scope, id);
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const source of props.sources) {
      schedules[source.name] = new scheduler.Schedule(this, `Capture-${source.name}`, {
        description: `promvault federate capture of source ${source.name}`,
        schedule: scheduler.ScheduleExpression.expression(source.expression),
        timeWindow: scheduler.TimeWindow.off(),
        target: new targets.LambdaInvoke(props.capture, {
          input: scheduler.ScheduleTargetInput.fromObject({ source: source.name }),
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: 0,
          maxEventAge: Duration.minutes(1),
        }),
      });
    }
    this.schedules = schedules;
  }
}
