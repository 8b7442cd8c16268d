import { Match } from 'aws-cdk-lib/assertions';
import { HANDLERS } from '../../../lambdas/handlers/contracts';
import { handlerOfState, TRANSIENT_ERRORS } from '../../../cdk/lib/constructs/workflow-parts';
import { SHARD_RETRY } from '../../../lambdas/core/retry';
import { allStates, buildStack, definitionOf, minimalConfig, type Json } from './helpers';

const TRANSIENT = [
  'TransientError',
  'SourceUnavailableError',
  'TargetUnavailableError',
  'ShardTimeoutError',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
const RETRY = {
  ErrorEquals: TRANSIENT,
  IntervalSeconds: 2,
  BackoffRate: 2,
  MaxAttempts: 6,
  MaxDelaySeconds: 60,
  JitterStrategy: 'FULL',
};

const { template } = buildStack(minimalConfig({ bucket: { prefix: 'promvault' } }));
const backup = definitionOf(template, 'BackupStateMachine');
const restore = definitionOf(template, 'RestoreStateMachine');
const backupStates = allStates(backup);
const restoreStates = allStates(restore);

const tasks = (states: Record<string, { [key: string]: Json }>) =>
  Object.entries(states).filter(([, s]) => s.Type === 'Task');

test('the transient error names are the classes of lambdas/core/errors.ts and handlers/errors.ts, and Lambda faults', () => {
  expect(TRANSIENT_ERRORS).toEqual(TRANSIENT);
});

test("every Task's Retry is SHARD_RETRY, the policy the CLI retries shards with", () => {
  const shared = {
    IntervalSeconds: SHARD_RETRY.intervalMs / 1000,
    BackoffRate: SHARD_RETRY.backoffRate,
    MaxAttempts: SHARD_RETRY.maxAttempts,
    MaxDelaySeconds: SHARD_RETRY.maxDelayMs / 1000,
    JitterStrategy: SHARD_RETRY.jitter.toUpperCase(),
  };
  for (const [, state] of [...tasks(backupStates), ...tasks(restoreStates)]) {
    const [retry] = state.Retry as { ErrorEquals: string[] }[];
    expect(retry).toMatchObject(shared);
    // The state machine retries what the CLI retries, plus faults only Lambda has.
    expect(retry!.ErrorEquals).toEqual([...SHARD_RETRY.errors, ...TRANSIENT.slice(SHARD_RETRY.errors.length)]);
    expect(
      TRANSIENT.slice(SHARD_RETRY.errors.length).every((e) => e === 'ShardTimeoutError' || e.startsWith('Lambda.')),
    ).toBe(true);
  }
});

describe('every Task', () => {
  test.each([
    ['backup', backupStates],
    ['restore', restoreStates],
  ])('%s: is named after its handler and retries transient errors with full jitter', (_name, states) => {
    for (const [name, state] of tasks(states)) {
      expect(handlerOfState(name)).toBeDefined();
      expect(state.Retry).toEqual([RETRY]);
      // It invokes the function of the handler it is named after.
      expect(String(state.Resource)).toMatch(
        new RegExp(`^<GetAtt:${HANDLERS[handlerOfState(name)!]}[0-9A-F]{8}\\.Arn>$`),
      );
    }
  });
});

describe('backup state machine', () => {
  test('PlanBackup → PlanMode → (BackupShards | BackupShardsFromS3) → CommitBackup', () => {
    expect(backup.StartAt).toBe('PlanBackup');
    expect(Object.keys(backupStates).sort()).toEqual(
      [
        'PlanBackup',
        'PlanMode',
        'UnknownPlanMode',
        'BackupShards',
        'BackupShard',
        'BackupShardFailed',
        'BackupShardsFromS3',
        'BackupShardFromS3',
        'BackupShardFromS3Failed',
        'CommitBackup',
      ].sort(),
    );
    expect(backupStates.PlanBackup).toMatchObject({ Type: 'Task', Next: 'PlanMode' });
    expect(backupStates.PlanBackup!.Parameters).toBeUndefined(); // the execution input ({source}) is the plan input
    expect(backupStates.PlanMode).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.mode', StringEquals: 'inline', Next: 'BackupShards' },
        { Variable: '$.mode', StringEquals: 's3', Next: 'BackupShardsFromS3' },
      ],
      Default: 'UnknownPlanMode',
    });
    expect(backupStates.CommitBackup).toMatchObject({
      Type: 'Task',
      End: true,
      Parameters: {
        'source.$': '$.source',
        'runId.$': '$.runId',
        'planKey.$': '$.planKey',
        'plannedAtMs.$': '$.plannedAtMs',
      },
    });
    expect(backupStates.CommitBackup!.Catch).toBeUndefined(); // ShardsFailedError fails the run, visibly
  });

  test('the inline Map runs BackupShard over $.shards with bounded concurrency and discards its results', () => {
    expect(backupStates.BackupShards).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.shards',
      MaxConcurrency: 4,
      ResultPath: null,
      Next: 'CommitBackup',
      ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'BackupShard' },
    });
  });

  test('a failing shard is caught: its item records the error and the Map goes on', () => {
    for (const name of ['BackupShard', 'BackupShardFromS3']) {
      expect(backupStates[name]!.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `${name}Failed` },
      ]);
      expect(backupStates[`${name}Failed`]).toEqual({ Type: 'Pass', End: true });
    }
  });

  test('the distributed Map reads the JSON array at planKey (under the prefix) and writes Map Run results to S3', () => {
    expect(backupStates.BackupShardsFromS3).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 4,
      ResultPath: null,
      ToleratedFailurePercentage: 100,
      Next: 'CommitBackup',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'BackupShardFromS3',
      },
      ItemReader: {
        Resource: 'arn:<Ref:AWS::Partition>:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: {
          Bucket: expect.stringMatching(/^<Ref:ArchiveBucket/),
          'Key.$': "States.Format('promvault/{}', $.planKey)",
        },
      },
      ResultWriter: {
        Resource: 'arn:<Ref:AWS::Partition>:states:::s3:putObject',
        Parameters: { Bucket: expect.stringMatching(/^<Ref:ArchiveBucket/), Prefix: 'promvault/plans/map-results' },
      },
    });
    expect(backupStates.BackupShardsFromS3!.ItemsPath).toBeUndefined();
  });

  test('without a prefix the ItemReader key is planKey itself', () => {
    const states = allStates(definitionOf(buildStack(minimalConfig()).template, 'BackupStateMachine'));
    expect((states.BackupShardsFromS3!.ItemReader as { Parameters: Json }).Parameters).toMatchObject({
      'Key.$': '$.planKey',
    });
  });

  test('sources with different concurrency: a Choice on $.source sets $.maxConcurrency for both Maps', () => {
    const config = minimalConfig({
      sources: [
        { name: 'prod', remoteReadUrl: 'http://a:9090', maxConcurrency: 2 },
        { name: 'dev', remoteReadUrl: 'http://b:9090', maxConcurrency: 6 },
        { name: 'qa', remoteReadUrl: 'http://c:9090', maxConcurrency: 6 },
      ],
    });
    const states = allStates(definitionOf(buildStack(config).template, 'BackupStateMachine'));
    expect(states.PlanBackup!.Next).toBe('SelectConcurrency');
    expect(states.SelectConcurrency).toEqual({
      Type: 'Choice',
      Choices: [
        {
          Or: [
            { Variable: '$.source', StringEquals: 'dev' },
            { Variable: '$.source', StringEquals: 'qa' },
          ],
          Next: 'Concurrency6',
        },
      ],
      Default: 'Concurrency2',
    });
    expect(states.Concurrency6).toEqual({ Type: 'Pass', Result: 6, ResultPath: '$.maxConcurrency', Next: 'PlanMode' });
    for (const map of ['BackupShards', 'BackupShardsFromS3']) {
      expect(states[map]).toMatchObject({ MaxConcurrencyPath: '$.maxConcurrency' });
      expect(states[map]!.MaxConcurrency).toBeUndefined();
    }
  });
});

describe('restore state machine', () => {
  test('PlanRestore → Thaw → ThawComplete, with a Wait/poll loop back to Thaw while objects are pending', () => {
    expect(restore.StartAt).toBe('PlanRestore');
    expect(restoreStates.PlanRestore).toMatchObject({ Type: 'Task', Next: 'Thaw' });
    expect(restoreStates.Thaw).toMatchObject({
      Type: 'Task',
      Parameters: { 'runId.$': '$.runId', 'planKey.$': '$.planKey', 'thawTier.$': '$.thawTier' },
      ResultPath: '$.thaw',
      Next: 'ThawComplete',
    });
    expect(restoreStates.ThawComplete).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.thaw.pending', NumericGreaterThan: 0 },
            { Variable: '$.thaw.thawTier', StringEquals: 'Expedited' },
          ],
          Next: 'WaitForExpeditedThaw',
        },
        { Variable: '$.thaw.pending', NumericGreaterThan: 0, Next: 'WaitForThaw' },
      ],
      Default: 'RestoreMode',
    });
    expect(restoreStates.WaitForThaw).toEqual({ Type: 'Wait', Seconds: 300, Next: 'Thaw' });
    expect(restoreStates.WaitForExpeditedThaw).toEqual({ Type: 'Wait', Seconds: 60, Next: 'Thaw' });
  });

  test('once thawed: inline or distributed Map of RestoreShard, then Report, which fails the run if shards failed', () => {
    expect(restoreStates.RestoreMode).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.mode', StringEquals: 'inline', Next: 'RestoreShards' },
        { Variable: '$.mode', StringEquals: 's3', Next: 'RestoreShardsFromS3' },
      ],
      Default: 'UnknownPlanMode',
    });
    expect(restoreStates.RestoreShards).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.shards',
      ResultPath: null,
      MaxConcurrency: 4,
      Next: 'Report',
    });
    expect(restoreStates.RestoreShardsFromS3).toMatchObject({
      Type: 'Map',
      ResultPath: null,
      Next: 'Report',
      ItemReader: { Parameters: { 'Key.$': "States.Format('promvault/{}', $.planKey)" } },
      ResultWriter: { Parameters: { Prefix: 'promvault/restores/map-results' } },
    });
    expect(restoreStates.RestoreShard!.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RestoreShardFailed' },
    ]);
    expect(restoreStates.Report).toMatchObject({
      Type: 'Task',
      Parameters: { 'runId.$': '$.runId', 'planKey.$': '$.planKey' },
      Next: 'RestoreOutcome',
    });
    expect(restoreStates.RestoreOutcome).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.failed_shards', NumericGreaterThan: 0, Next: 'RestoreIncomplete' }],
      Default: 'Restored',
    });
    expect(restoreStates.RestoreIncomplete).toMatchObject({ Type: 'Fail', Error: 'ShardsFailedError' });
    expect(restoreStates.Restored).toEqual({ Type: 'Succeed' });
  });

  test('poll intervals and shard concurrency come from cdk.json', () => {
    const config = minimalConfig({
      restore: { pollInterval: '2m', expeditedPollInterval: '30s', shardConcurrency: 8 },
    });
    const states = allStates(definitionOf(buildStack(config).template, 'RestoreStateMachine'));
    expect(states.WaitForThaw).toMatchObject({ Seconds: 120 });
    expect(states.WaitForExpeditedThaw).toMatchObject({ Seconds: 30 });
    expect(states.RestoreShards).toMatchObject({ MaxConcurrency: 8 });
  });
});

test('both state machines: Standard, logs to their own log group without execution data, X-Ray on, bounded run time', () => {
  const machines = template.findResources('AWS::StepFunctions::StateMachine', {
    Properties: {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    },
  });
  expect(Object.keys(machines)).toHaveLength(2);
  expect(backup.TimeoutSeconds).toBe(86_400);
  expect(restore.TimeoutSeconds).toBe(604_800);
  const errorsOnly = buildStack(minimalConfig({ monitoring: { stateMachineLogLevel: 'ERROR' } })).template;
  const quiet = errorsOnly.findResources('AWS::StepFunctions::StateMachine', {
    Properties: { LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false } },
  });
  expect(Object.keys(quiet)).toHaveLength(2);
});
