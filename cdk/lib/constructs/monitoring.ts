/**
 * Alarms and a dashboard for promvault itself: failed or timed-out executions per state
 * machine, backup staleness per source (from the handlers' EMF metric LagSeconds), and starts
 * the scheduler could not deliver. Optionally every alarm notifies an e-mail through SNS.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** CloudWatch namespace of the handlers' EMF metrics; their only dimension is Source. */
export const METRIC_NAMESPACE = 'Promvault';
export const SOURCE_METRICS = [
  'ShardsCommitted',
  'ShardsFailed',
  'Samples',
  'StoredBytes',
  'DurationSeconds',
  'LagSeconds',
  'CheckpointAgeSeconds',
] as const;
export type SourceMetricName = (typeof SOURCE_METRICS)[number];

export interface MonitoredSource {
  readonly name: string;
  /** Time between two scheduled backups. */
  readonly schedulePeriod: Duration;
}

export interface MonitoringProps {
  readonly backup: sfn.IStateMachine;
  readonly restore: sfn.IStateMachine;
  readonly sources: readonly MonitoredSource[];
  readonly deadLetterQueue: sqs.IQueue;
  /** The federate-mode sources' capture function, alarmed on its errors. @default none */
  readonly federateCapture?: lambda.IFunction;
  /** A source is stale when its newest committed data is older than this many schedule periods. @default 3 */
  readonly stalenessFactor?: number;
  /** Address subscribed to an SNS topic that every alarm notifies. @default no topic */
  readonly alarmEmail?: string;
  /** @default the stack name */
  readonly dashboardName?: string;
}

/** A per-source metric the handlers emit. */
export function sourceMetric(
  metricName: SourceMetricName,
  source: string,
  props: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    dimensionsMap: { Source: source },
    ...props,
  });
}

const FIVE_MINUTES = Duration.minutes(5);
const DAY_SECONDS = 86_400;

export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly topic?: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const machines: [string, sfn.IStateMachine][] = [
      ['Backup', props.backup],
      ['Restore', props.restore],
    ];
    for (const [name, machine] of machines) {
      this.countAlarm(
        `${name}ExecutionsFailed`,
        machine.metricFailed({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `a promvault ${name.toLowerCase()} run failed`,
      );
      this.countAlarm(
        `${name}ExecutionsTimedOut`,
        machine.metricTimedOut({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `a promvault ${name.toLowerCase()} run timed out`,
      );
    }
    const factor = props.stalenessFactor ?? 3;
    for (const source of props.sources) this.alarms.push(this.stalenessAlarm(source, factor));
    this.countAlarm(
      'ScheduleDeadLetters',
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: 'Maximum' }),
      'EventBridge Scheduler could not start a backup run; the events wait in the dead-letter queue',
    );
    if (props.federateCapture !== undefined)
      this.countAlarm(
        'FederateCaptureErrors',
        props.federateCapture.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        'a promvault federate capture missed fetches, left a compaction undone or failed; its log names which',
      );
    if (props.alarmEmail !== undefined) {
      this.topic = this.alarmTopic(props.alarmEmail);
      for (const alarm of this.alarms) alarm.addAlarmAction(new actions.SnsAction(this.topic));
    }
    this.dashboard = this.buildDashboard(props, machines);
  }

  private countAlarm(id: string, metric: cloudwatch.IMetric, description: string): void {
    this.alarms.push(
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }),
    );
  }

  /**
   * Breaches when, for factor × period, the source either reported a lag above that or reported
   * nothing at all (missing data is breaching: a backup that stopped running is stale too).
   */
  private stalenessAlarm(source: MonitoredSource, factor: number): cloudwatch.Alarm {
    const windowSeconds = Math.ceil((factor * source.schedulePeriod.toSeconds()) / 60) * 60;
    const periodSeconds = Math.min(windowSeconds, DAY_SECONDS);
    const evaluationPeriods = Math.ceil(windowSeconds / periodSeconds);
    return new cloudwatch.Alarm(this, `Stale-${source.name}`, {
      metric: sourceMetric('LagSeconds', source.name, {
        statistic: 'Maximum',
        period: Duration.seconds(periodSeconds),
      }),
      threshold: windowSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: evaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `promvault backup of ${source.name} is stale: no data committed in the last ${factor} schedule periods`,
    });
  }

  /** SNS with its own key: CloudWatch must be allowed to use the key to publish encrypted alarms. */
  private alarmTopic(email: string): sns.Topic {
    const key = new kms.Key(this, 'AlarmTopicKey', { description: 'promvault alarm topic', enableKeyRotation: true });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      masterKey: key,
      enforceSSL: true,
      displayName: 'promvault alarms',
    });
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  private buildDashboard(props: MonitoringProps, machines: [string, sfn.IStateMachine][]): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? Stack.of(this).stackName,
      defaultInterval: Duration.days(1),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'promvault alarms', alarms: this.alarms, width: 24 }),
    );
    dashboard.addWidgets(
      ...machines.map(
        ([name, m]) =>
          new cloudwatch.GraphWidget({
            title: `${name} executions`,
            left: [
              m.metricSucceeded({ statistic: 'Sum' }),
              m.metricFailed({ statistic: 'Sum' }),
              m.metricTimedOut({ statistic: 'Sum' }),
            ],
            width: 12,
          }),
      ),
    );
    const perSource = (metric: SourceMetricName, statistic: string) =>
      props.sources.map((s) => sourceMetric(metric, s.name, { statistic, label: s.name }));
    const graph = (title: string, metric: SourceMetricName, statistic: string) =>
      new cloudwatch.GraphWidget({ title, left: perSource(metric, statistic), width: 8 });
    dashboard.addWidgets(
      graph('Lag behind now (s)', 'LagSeconds', 'Maximum'),
      graph('Checkpoint age (s)', 'CheckpointAgeSeconds', 'Maximum'),
      graph('Run duration (s)', 'DurationSeconds', 'Maximum'),
    );
    dashboard.addWidgets(
      graph('Shards committed', 'ShardsCommitted', 'Sum'),
      graph('Shards failed', 'ShardsFailed', 'Sum'),
      graph('Samples backed up', 'Samples', 'Sum'),
    );
    dashboard.addWidgets(
      graph('Stored bytes', 'StoredBytes', 'Sum'),
      new cloudwatch.GraphWidget({
        title: 'Schedule dead letters',
        left: [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })],
        width: 8,
      }),
    );
    return dashboard;
  }
}
