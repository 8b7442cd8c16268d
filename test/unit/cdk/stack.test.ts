import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { parseConfig, toRuntimeConfig } from '../../../cdk/lib/config';
import { buildPromvault, FEATURE_FLAGS, SKIP_BUNDLING_KEY, synthesizeTemplate } from '../../../cdk/lib/synth';
import { buildStack, minimalConfig, outdir } from './helpers';

const SECOND_SOURCE = {
  name: 'staging',
  remoteReadUrl: 'http://prom-staging:9090',
  schedule: 'rate(30 minutes)',
  maxConcurrency: 4,
};
const CONFIG = minimalConfig({
  sources: [
    { name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090', credentialsSecretName: 'promvault/prod' },
    SECOND_SOURCE,
  ],
  bucket: { prefix: 'pv' },
  restore: { targetUrl: 'http://vm:8428/api/v1/write', targetSecretName: 'promvault/target' },
  monitoring: { alarmEmail: 'oncall@example.com' },
});
const { app, stack, template } = buildStack(CONFIG);

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Flattens an ARN expression: {"Fn::Join": ["", [{"Fn::GetAtt": ["ArchiveBucketX", "Arn"]}, "/pv/shards/*"]]} → "<ArchiveBucket>/pv/shards/*". */
function flat(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const r = resource as Record<string, unknown>;
  if ('Fn::Join' in r) return (r['Fn::Join'] as [string, unknown[]])[1].map(flat).join((r['Fn::Join'] as [string])[0]);
  if ('Fn::GetAtt' in r) {
    const [id, attribute] = r['Fn::GetAtt'] as [string, string];
    return `<${id.replace(/[0-9A-F]{8}$/, '')}.${attribute}>`;
  }
  if ('Ref' in r) return `<${String(r.Ref).replace(/[0-9A-F]{8}$/, '')}>`;
  return JSON.stringify(r);
}

/** action → resources the role of a function may use it on. */
function permissions(t: Template, roleIdPrefix: string): Record<string, string[]> {
  const policies = t.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`^${roleIdPrefix}`) }] },
  });
  const out: Record<string, string[]> = {};
  for (const policy of Object.values(policies)) {
    for (const s of (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
      .Statement) {
      expect(s.Effect).toBe('Allow');
      for (const action of list(s.Action)) out[action] = [...(out[action] ?? []), ...list(s.Resource).map(flat)].sort();
    }
  }
  return out;
}

const objects = (...dirs: string[]) => dirs.map((d) => `<ArchiveBucket.Arn>/pv/${d}/*`).sort();
const common = (role: string) => ({
  'logs:CreateLogStream': [`<${role}Logs.Arn>`],
  'logs:PutLogEvents': [`<${role}Logs.Arn>`],
  's3:ListBucket': ['<ArchiveBucket.Arn>'],
  'kms:Decrypt': ['<ArchiveKey.Arn>'],
});

describe('IAM: each function reaches only its folders under the prefix', () => {
  test.each<[string, Record<string, string[]>]>([
    [
      'PlanBackup',
      {
        's3:GetObject': objects('checkpoints'),
        's3:PutObject': objects('plans'),
        's3:AbortMultipartUpload': objects('plans'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
      },
    ],
    [
      'BackupShard',
      {
        's3:GetObject': objects('manifests'),
        's3:PutObject': objects('manifests', 'shards'),
        's3:AbortMultipartUpload': objects('manifests', 'shards'),
        's3:DeleteObject': objects('shards'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
        'secretsmanager:GetSecretValue': [
          'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:promvault/prod-??????',
        ],
      },
    ],
    [
      'CommitBackup',
      {
        's3:GetObject': objects('checkpoints', 'manifests', 'plans'),
        's3:PutObject': objects('checkpoints'),
        's3:AbortMultipartUpload': objects('checkpoints'),
        's3:DeleteObject': objects('shards'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
      },
    ],
    [
      'PlanRestore',
      {
        's3:GetObject': objects('manifests'),
        's3:PutObject': objects('restores'),
        's3:AbortMultipartUpload': objects('restores'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
      },
    ],
    ['Thaw', { 's3:GetObject': objects('manifests', 'restores', 'shards'), 's3:RestoreObject': objects('shards') }],
    [
      'RestoreShard',
      {
        's3:GetObject': objects('manifests', 'shards'),
        's3:PutObject': objects('restores'),
        's3:AbortMultipartUpload': objects('restores'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
        'secretsmanager:GetSecretValue': [
          'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:promvault/target-??????',
        ],
      },
    ],
    [
      'Report',
      {
        's3:GetObject': objects('restores'),
        's3:PutObject': objects('restores'),
        's3:AbortMultipartUpload': objects('restores'),
        'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
      },
    ],
  ])('%s', (role, specific) => {
    expect(permissions(template, `${role}Role`)).toEqual({ ...common(role), ...specific });
  });

  test('without an archive tier, Thaw may not restore objects: none is ever archived', () => {
    const { template: noArchive } = buildStack(minimalConfig({ bucket: { transitions: { archiveDays: null } } }));
    expect(permissions(noArchive, 'ThawRole')['s3:RestoreObject']).toBeUndefined();
    expect(permissions(template, 'ThawRole')['s3:RestoreObject']).toEqual(objects('shards'));
  });

  test('KMS is usable only through S3', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const kms = Object.values(policies).flatMap((p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement.filter(
        (s) => list(s.Action).some((a) => a.startsWith('kms:')),
      ),
    );
    expect(kms.length).toBeGreaterThanOrEqual(9);
    for (const s of kms)
      expect(s.Condition).toEqual({
        StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
      });
  });

  test('no principal gets the whole bucket, s3:*, or a secret by wildcard', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const s of (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement) {
        expect(list(s.Action).filter((a) => a.endsWith(':*'))).toEqual([]);
        for (const r of list(s.Resource).map(flat)) {
          expect(r).not.toMatch(/^<ArchiveBucket\.Arn>\/\*$/);
          expect(r).not.toMatch(/secret:\*/);
        }
      }
    }
  });

  test('state machines: invoke their own functions, read their plan folder, write Map Run results', () => {
    expect(permissions(template, 'BackupStateMachineRole')).toMatchObject({
      'lambda:InvokeFunction': [
        '<BackupShard.Arn>',
        '<BackupShard.Arn>:*',
        '<CommitBackup.Arn>',
        '<CommitBackup.Arn>:*',
        '<PlanBackup.Arn>',
        '<PlanBackup.Arn>:*',
      ],
      's3:GetObject': ['<ArchiveBucket.Arn>/pv/plans/*', '<ArchiveBucket.Arn>/pv/plans/map-results/*'],
      's3:PutObject': ['<ArchiveBucket.Arn>/pv/plans/map-results/*'],
    });
    expect(permissions(template, 'RestoreStateMachineRole')).toMatchObject({
      's3:GetObject': ['<ArchiveBucket.Arn>/pv/restores/*', '<ArchiveBucket.Arn>/pv/restores/map-results/*'],
      's3:PutObject': ['<ArchiveBucket.Arn>/pv/restores/map-results/*'],
    });
  });
});

describe('functions', () => {
  test('Node.js 22 on arm64, no X-Ray, JSON logs to a log group with the configured retention', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(fns)).toHaveLength(7);
    for (const fn of Object.values(fns)) {
      // The handlers create no X-Ray segments: tracing stays off (the state machines trace runs).
      expect((fn as { Properties: Record<string, unknown> }).Properties.TracingConfig).toBeUndefined();
      expect((fn as { Properties: Record<string, unknown> }).Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.stringMatching(/Logs/) } },
        Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps', PROMVAULT_CONFIG: expect.anything() } },
      });
    }
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 9);
  });

  test('memory and timeout per role', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'promvault BackupShard',
      MemorySize: 1769,
      Timeout: 900,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'promvault Report',
      MemorySize: 256,
      Timeout: 120,
    });
  });

  test('PROMVAULT_CONFIG is the RuntimeConfig, with the bucket resolved at deploy time', () => {
    const fn = Object.values(
      template.findResources('AWS::Lambda::Function', { Properties: { Description: 'promvault PlanBackup' } }),
    )[0] as {
      Properties: { Environment: { Variables: { PROMVAULT_CONFIG: { 'Fn::Join': [string, unknown[]] } } } };
    };
    const [, parts] = fn.Properties.Environment.Variables.PROMVAULT_CONFIG['Fn::Join'];
    const json = parts.map((p) => (typeof p === 'string' ? p : 'BUCKET')).join('');
    expect(JSON.parse(json)).toEqual(toRuntimeConfig(parseConfig(CONFIG), 'BUCKET'));
    expect(parts.find((p) => typeof p !== 'string')).toEqual({ Ref: expect.stringMatching(/^ArchiveBucket/) });
  });

  test('a private Prometheus: the network functions run in the configured subnets and security groups', () => {
    const vpc = {
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      securityGroupIds: ['sg-0123456789abcdef0'],
    };
    const { template: t } = buildStack(
      minimalConfig({ sources: [{ name: 'prod', remoteReadUrl: 'http://10.0.0.5:9090', vpc }] }),
    );
    const inVpc = t.findResources('AWS::Lambda::Function', {
      Properties: { VpcConfig: { SubnetIds: vpc.subnetIds, SecurityGroupIds: vpc.securityGroupIds } },
    });
    expect(
      Object.values(inVpc)
        .map((f) => (f as { Properties: { Description: string } }).Properties.Description)
        .sort(),
    ).toEqual(['promvault BackupShard', 'promvault RestoreShard']);
    expect(permissions(t, 'BackupShardRole')['ec2:CreateNetworkInterface']).toEqual(['*']);
    t.resourceCountIs('AWS::EC2::SecurityGroup', 0);
  });
});

describe('schedules', () => {
  test('one schedule per source starts the backup state machine with {"source": name}, with retries and a DLQ', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    for (const [name, expression] of [
      ['prod', 'rate(1 hour)'],
      ['staging', 'rate(30 minutes)'],
    ]) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        ScheduleExpressionTimezone: 'Etc/UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { Ref: Match.stringLikeRegexp('^BackupStateMachine') },
          Input: JSON.stringify({ source: name }),
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SchedulesDeadLetterQueue'), 'Arn'] } },
        },
      });
    }
    expect(permissions(template, 'SchedulerRoleForTarget')).toEqual({
      'states:StartExecution': ['<BackupStateMachine>'],
      'sqs:SendMessage': ['<SchedulesDeadLetterQueue.Arn>'],
    });
  });

  test('the dead-letter queue is encrypted and TLS-only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      },
    });
  });
});

describe('monitoring', () => {
  test('failed and timed-out executions alarm for both state machines', () => {
    for (const [machine, metric] of [
      ['Backup', 'ExecutionsFailed'],
      ['Backup', 'ExecutionsTimedOut'],
      ['Restore', 'ExecutionsFailed'],
      ['Restore', 'ExecutionsTimedOut'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: metric,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: Match.stringLikeRegexp(`^${machine}StateMachine`) } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  test('staleness per source: LagSeconds over 3 schedule periods, or no data at all, alarms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Promvault',
      MetricName: 'LagSeconds',
      Dimensions: [{ Name: 'Source', Value: 'prod' }],
      Statistic: 'Maximum',
      Period: 10_800,
      Threshold: 10_800,
      EvaluationPeriods: 1,
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'LagSeconds',
      Dimensions: [{ Name: 'Source', Value: 'staging' }],
      Threshold: 5400,
      Period: 5400,
    });
  });

  test('schedule dead letters alarm', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SchedulesDeadLetterQueue'), 'QueueName'] },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test('every alarm notifies the e-mail through an encrypted, TLS-only SNS topic', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }] },
      7,
    );
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringAlarmTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  test('without alarmEmail there is no topic', () => {
    buildStack(minimalConfig()).template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  test('a dashboard shows the alarms, executions and the handlers metrics per source', () => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as {
      Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } };
    };
    const body = dashboard.Properties.DashboardBody['Fn::Join'][1]
      .map((p) => (typeof p === 'string' ? p : '"X"'))
      .join('');
    for (const metric of [
      'ShardsCommitted',
      'ShardsFailed',
      'Samples',
      'StoredBytes',
      'DurationSeconds',
      'LagSeconds',
      'CheckpointAgeSeconds',
      'ExecutionsFailed',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect(body).toContain(`"${metric}"`);
    }
    expect(body).toContain('"Promvault"');
    expect(body).toContain('"alarm"');
  });
});

describe('cdk-nag AwsSolutions', () => {
  test('runs at synth and finds nothing unacknowledged; every acknowledgment gives a reason', () => {
    expect(() => app.synth()).not.toThrow();
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) {
      expect(id).toMatch(/AwsSolutions-(IAM5\[Resource::.+\]|L1|S1|SQS3)$/);
      expect(String(reason).length).toBeGreaterThan(30);
    }
  });

  test('an unjustified wildcard fails synth', () => {
    const app = new App({
      outdir: outdir(),
      context: { ...FEATURE_FLAGS, [SKIP_BUNDLING_KEY]: true, promvault: minimalConfig() },
    });
    const s = buildPromvault(app);
    s.functions.report.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [s.archive.bucket.arnForObjects('*')] }),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Resource::<ArchiveBucket[0-9A-F]{8}\.Arn>\/\*\]/);
  });

  test('synthesizeTemplate() returns the template of cdk.json (the local runner takes the ASL from it)', () => {
    const t = synthesizeTemplate() as { Resources: Record<string, { Type: string }> };
    expect(Object.values(t.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')).toHaveLength(2);
    expect(Stack.isStack(stack)).toBe(true);
  });
});

describe('federate-mode sources: a capture function on a one-minute schedule, no backup', () => {
  const FEDERATE = {
    name: 'edge',
    mode: 'federate',
    url: 'http://edge-prom:9090',
    interval: '10s',
    selectors: ['{job="node"}'],
    credentialsSecretName: 'promvault/edge',
  };
  const { template: fed } = buildStack(
    minimalConfig({ sources: [...(CONFIG.sources as unknown[]), FEDERATE], bucket: { prefix: 'pv' } }),
  );

  test('without a federate source there is no capture function', () => {
    expect(
      Object.keys(
        template.findResources('AWS::Lambda::Function', { Properties: { Description: 'promvault FederateCapture' } }),
      ),
    ).toEqual([]);
  });

  test('one FederateCapture function, a little over a minute of capture, scheduled every minute with its source', () => {
    fed.resourcePropertiesCountIs('AWS::Lambda::Function', { Description: 'promvault FederateCapture' }, 1);
    fed.hasResourceProperties('AWS::Lambda::Function', { Description: 'promvault FederateCapture', Timeout: 120 });
    fed.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FederateCapture'), 'Arn'] },
        Input: JSON.stringify({ source: 'edge' }),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }),
      }),
    });
  });

  test("an alarm on the capture function's errors, and only with a federate source", () => {
    fed.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^FederateCapture') } }],
      Threshold: 0,
    });
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'Errors' }, 0);
  });

  test('the backup state machine gets no schedule for it: only the two backup sources have one', () => {
    const targets = Object.values(fed.findResources('AWS::Scheduler::Schedule')).map(
      (s) => (s as { Properties: { Target: { Input: string } } }).Properties.Target.Input,
    );
    expect(targets.sort()).toEqual(
      [
        JSON.stringify({ source: 'edge' }),
        JSON.stringify({ source: 'prod' }),
        JSON.stringify({ source: 'staging' }),
      ].sort(),
    );
    fed.resourceCountIs('AWS::Scheduler::Schedule', 3);
    const backupTargets = Object.values(fed.findResources('AWS::Scheduler::Schedule')).filter((s) =>
      JSON.stringify(s).includes('BackupStateMachine'),
    );
    expect(backupTargets).toHaveLength(2);
  });

  test('its grants: snapshots, shards, manifests and checkpoints under the prefix, and its own secret only', () => {
    expect(permissions(fed, 'FederateCaptureRole')).toEqual({
      ...common('FederateCapture'),
      's3:GetObject': objects('snapshots', 'manifests', 'shards', 'checkpoints'),
      's3:PutObject': objects('snapshots', 'manifests', 'shards', 'checkpoints'),
      's3:AbortMultipartUpload': objects('snapshots', 'manifests', 'shards', 'checkpoints'),
      's3:DeleteObject': objects('snapshots', 'shards'),
      'kms:GenerateDataKey': ['<ArchiveKey.Arn>'],
      'secretsmanager:GetSecretValue': [expect.stringContaining('secret:promvault/edge-??????') as unknown as string],
    });
    expect(JSON.stringify(permissions(fed, 'BackupShardRole'))).not.toContain('promvault/edge');
  });
});
