/**
 * `promvault run … --aws` against a mocked Step Functions: StartExecution with a deterministic
 * name (and -rN for a repeat of a finished request), following DescribeExecution, the history
 * and the Map Run, the report on success and failure, Ctrl-C detaching, and the CLI's flags
 * and --json output.
 */
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import {
  checkStateMachineArn,
  executionArnOf,
  runBackupOnAws,
  runRestoreOnAws,
  summarizeHistory,
} from '../../../../cli/local-runner/aws';
import { backupExecutionName, restoreExecutionName, type RunProgress } from '../../../../cli/local-runner/results';
import { main } from '../../../../cli/main';
import { InputError } from '../../../../lambdas/core/errors';

const sfn = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:BackupStateMachine79E7534B';
const EXEC = (name: string) => executionArnOf(ARN, name);
const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

beforeEach(() => sfn.reset());

const exited = (name: string, output: unknown): HistoryEvent => ({
  timestamp: new Date(),
  type: 'TaskStateExited',
  id: 1,
  stateExitedEventDetails: { name, output: JSON.stringify(output) },
});

const plan = {
  source: 'prod',
  runId: `prod-${T0}-${T0 + 3 * HOUR}`,
  shardCount: 3,
  mode: 'inline',
  shards: [],
  planKey: 'plans/prod/x.json',
  fromMs: T0,
  toMs: T0 + 3 * HOUR,
};
const shard = (i: number) => ({
  source: 'prod',
  startMs: T0 + i * HOUR,
  endMs: T0 + (i + 1) * HOUR,
  selector: '',
  force: false,
});
const commit = {
  source: 'prod',
  runId: plan.runId,
  planned: 3,
  committed: 3,
  missing: [],
  checkpointMs: T0 + 3 * HOUR,
  samples: 360,
  storedBytes: 999,
};
const input = { source: 'prod', from: '2026-01-01T00:00:00Z', to: '2026-01-01T03:00:00Z' };

describe('runBackupOnAws', () => {
  it('starts under a deterministic name, follows to the end and reports the commit', async () => {
    const name = backupExecutionName(input, Date.now());
    expect(name).toBe('backup-prod-20260101T000000Z-20260101T030000Z');
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC(name), startDate: new Date() });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING', executionArn: EXEC(name), stateMachineArn: ARN, startDate: new Date(T0) })
      .resolves({
        status: 'SUCCEEDED',
        executionArn: EXEC(name),
        stateMachineArn: ARN,
        startDate: new Date(T0),
        stopDate: new Date(T0 + 42_000),
        output: JSON.stringify(commit),
      });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [exited('PlanBackup', plan), exited('BackupShard', { status: 'committed' })] })
      .resolves({
        events: [
          exited('PlanBackup', plan),
          ...[0, 1, 2].map(() => exited('BackupShard', { status: 'committed' })),
          exited('CommitBackup', commit),
        ],
      });
    const progress: RunProgress[] = [];
    const result = await runBackupOnAws(input, {
      stateMachineArn: ARN,
      executionName: name,
      pollMs: 0,
      onProgress: (p) => progress.push(p),
    });

    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({
      stateMachineArn: ARN,
      name,
      input: JSON.stringify(input),
    });
    expect(result).toEqual({
      mode: 'aws',
      execution: EXEC(name),
      status: 'SUCCEEDED',
      source: 'prod',
      run_id: plan.runId,
      from_ms: T0,
      to_ms: T0 + 3 * HOUR,
      shards: 3,
      committed: 3,
      failed: 0,
      samples: 360,
      stored_bytes: 999,
      seconds: 42,
      checkpoint_ms: T0 + 3 * HOUR,
      failures: [],
    });
    expect(progress.map((p) => [p.done, p.total])).toEqual([
      [1, 3],
      [3, 3],
    ]);
  });

  it('reports a failed run from its ShardsFailedError and the caught shards in the history', async () => {
    const cause = JSON.stringify({
      errorType: 'ShardsFailedError',
      errorMessage:
        '1 of 3 shards of source prod in run x were not backed up: k. The checkpoint is at 2026-01-01T01:00:00Z; the next run retries from there',
      trace: [],
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('n'), startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'ShardsFailedError',
      cause,
      startDate: new Date(T0),
      stopDate: new Date(T0 + 5_000),
    } as never);
    const caught = {
      ...shard(1),
      error: {
        Error: 'SourceRejectedError',
        Cause: JSON.stringify({ errorType: 'SourceRejectedError', errorMessage: '400 bad' }),
      },
    };
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        exited('PlanBackup', plan),
        exited('BackupShard', {}),
        exited('BackupShardFailed', caught),
        exited('BackupShard', {}),
      ],
    });
    const result = await runBackupOnAws(input, { stateMachineArn: ARN, executionName: 'n', pollMs: 0 });
    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'ShardsFailedError',
      message: expect.stringMatching(/^1 of 3 shards/),
      shards: 3,
      committed: 2,
      failed: 1,
      samples: null,
      stored_bytes: null,
      checkpoint_ms: T0 + HOUR,
      seconds: 5,
      failures: [
        { shard: '2026-01-01T01:00:00Z/2026-01-01T02:00:00Z', error: 'SourceRejectedError', message: '400 bad' },
      ],
    });
  });

  it('a repeat of a finished request starts <name>-r2; an explicit name follows the existing execution', async () => {
    const exists = () => new ExecutionAlreadyExists({ message: 'exists', $metadata: {} });
    sfn
      .on(StartExecutionCommand)
      .rejectsOnce(exists())
      .resolves({ executionArn: EXEC('n-r2'), startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'SUCCEEDED',
      output: JSON.stringify(commit),
      startDate: new Date(T0),
      stopDate: new Date(T0),
    } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    await runBackupOnAws(input, { stateMachineArn: ARN, executionName: 'n', pollMs: 0 });
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(['n', 'n-r2']);

    sfn.reset();
    sfn.on(StartExecutionCommand).rejects(exists());
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ status: 'SUCCEEDED', input: JSON.stringify(input), output: JSON.stringify(commit) } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const same = await runBackupOnAws(input, {
      stateMachineArn: ARN,
      executionName: 'mine',
      exactName: true,
      pollMs: 0,
    });
    expect(same).toMatchObject({ execution: EXEC('mine'), status: 'SUCCEEDED', committed: 3 });

    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED', input: '{"source":"other"}' } as never);
    await expect(
      runBackupOnAws(input, { stateMachineArn: ARN, executionName: 'mine', exactName: true, pollMs: 0 }),
    ).rejects.toThrow(InputError);
  });

  it('follows a Distributed Map through its Map Run, reading every history page', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('d') });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolves({ status: 'SUCCEEDED', output: JSON.stringify({ ...commit, planned: 500, committed: 500 }) } as never);
    const mapRun = 'arn:aws:states:eu-west-1:123456789012:mapRun:BackupStateMachine/BackupShardsFromS3:1';
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [exited('PlanBackup', { ...plan, shardCount: 500, mode: 's3' })], nextToken: 't1' })
      .resolvesOnce({
        events: [
          { timestamp: new Date(), type: 'MapRunStarted', id: 2, mapRunStartedEventDetails: { mapRunArn: mapRun } },
        ],
      })
      .resolves({
        events: [
          { timestamp: new Date(), type: 'MapRunStarted', id: 2, mapRunStartedEventDetails: { mapRunArn: mapRun } },
        ],
      });
    sfn.on(DescribeMapRunCommand).resolves({
      itemCounts: {
        pending: 0,
        running: 10,
        succeeded: 200,
        failed: 0,
        timedOut: 0,
        aborted: 0,
        total: 500,
        resultsWritten: 0,
      },
    } as never);
    const progress: RunProgress[] = [];
    await runBackupOnAws(input, {
      stateMachineArn: ARN,
      executionName: 'd',
      pollMs: 0,
      onProgress: (p) => progress.push(p),
    });
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[1]!.args[0].input).toMatchObject({
      nextToken: 't1',
      includeExecutionData: true,
    });
    expect(progress[0]).toMatchObject({ done: 200, total: 500 });
  });

  it('stops following when aborted (Ctrl-C); the execution keeps running', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('x') });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const controller = new AbortController();
    const pending = runBackupOnAws(input, {
      stateMachineArn: ARN,
      executionName: 'x',
      pollMs: 60_000,
      onProgress: () => controller.abort(),
      signal: controller.signal,
    });
    await expect(pending).resolves.toEqual({ mode: 'aws', execution: EXEC('x'), status: 'RUNNING', detached: true });
    expect(sfn.commandCalls(DescribeExecutionCommand).length).toBeLessThanOrEqual(2);
  });
});

describe('runRestoreOnAws', () => {
  it('reports the Report state output when RestoreIncomplete fails the run', async () => {
    const rInput = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T03:00:00Z', target: 'http://t:9090/api/v1/write' };
    const name = restoreExecutionName(rInput);
    expect(name).toMatch(/^restore-20260101T000000Z-20260101T030000Z-[0-9a-f]{10}$/);
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC(name) });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'ShardsFailedError',
      cause: '1 of 3 shards were not restored; report at restores/r/report.json',
      startDate: new Date(T0),
      stopDate: new Date(T0 + 2_000),
    } as never);
    const report = {
      runId: 'r',
      reportKey: 'restores/r/report.json',
      shards: 3,
      restored: 2,
      failed_shards: 1,
      samples: 240,
      series: 4,
    };
    const failed = {
      runId: 'r',
      manifestKey: 'manifests/prod/x.json',
      error: { Error: 'TargetRejectedError', Cause: '{"errorMessage":"400"}' },
    };
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        exited('PlanRestore', { runId: 'r', shardCount: 3 }),
        exited('RestoreShardFailed', failed),
        exited('Report', report),
      ],
    });
    const result = await runRestoreOnAws(rInput, { stateMachineArn: ARN, executionName: name, pollMs: 0 });
    expect(result).toEqual({
      mode: 'aws',
      execution: EXEC(name),
      status: 'FAILED',
      run_id: 'r',
      shards: 3,
      restored: 2,
      samples: 240,
      series: 4,
      failed_shards: 1,
      report_key: 'restores/r/report.json',
      seconds: 2,
      failures: [{ shard: 'manifests/prod/x.json', error: 'TargetRejectedError', message: '400' }],
      error: 'ShardsFailedError',
      message: '1 of 3 shards were not restored; report at restores/r/report.json',
    });
  });
});

describe('helpers', () => {
  it('checks state machine ARNs and takes the region from them', () => {
    expect(checkStateMachineArn(ARN, '--state-machine-arn')).toEqual({ arn: ARN, region: 'eu-west-1' });
    expect(() =>
      checkStateMachineArn('arn:aws:lambda:eu-west-1:123456789012:function:f', '--state-machine-arn'),
    ).toThrow(/--state-machine-arn .* is not a state machine ARN/);
    expect(EXEC('n')).toBe('arn:aws:states:eu-west-1:123456789012:execution:BackupStateMachine79E7534B:n');
  });

  it('names runs from the checkpoint by the minute, and keeps names within 80 characters', () => {
    expect(backupExecutionName({ source: 'prod' }, Date.UTC(2026, 0, 1, 10, 5, 42))).toBe(
      'backup-prod-auto-20260101T100500Z',
    );
    const long = backupExecutionName(
      { source: 'a'.repeat(63), from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' },
      0,
    );
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(backupExecutionName({ source: 'a.b' }, 0)).toMatch(/^backup-a_b-/);
  });

  it('counts caught shards once, from the Catch state', () => {
    const caught = { ...shard(0), error: { Error: 'E', Cause: 'c' } };
    const s = summarizeHistory([
      exited('BackupShard', caught),
      exited('BackupShardFailed', caught),
      exited('BackupShard', {}),
    ]);
    expect(s.done).toBe(2);
    expect(s.failures).toHaveLength(1);
  });
});

describe('promvault run --aws (CLI)', () => {
  let out: string;
  let err: string;
  beforeEach(() => {
    out = '';
    err = '';
    jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    process.exitCode = undefined;
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });
  const cli = (...args: string[]) => main(['node', 'promvault', 'run', ...args]);

  it('prints one JSON object as the last stdout line', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('n') });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'SUCCEEDED',
      output: JSON.stringify(commit),
      startDate: new Date(T0),
      stopDate: new Date(T0 + 1000),
    } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [exited('PlanBackup', plan)] });
    const code = await cli(
      'backup',
      '--aws',
      '--state-machine-arn',
      ARN,
      '--source-name',
      'prod',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      '2026-01-01T03:00:00Z',
      '--poll-interval',
      '0s',
      '--json',
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(json).toMatchObject({
      mode: 'aws',
      status: 'SUCCEEDED',
      shards: 3,
      committed: 3,
      failed: 0,
      samples: 360,
      stored_bytes: 999,
      seconds: 1,
      checkpoint_ms: T0 + 3 * HOUR,
      state_machine_arn: ARN,
    });
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.name).toBe(
      'backup-prod-20260101T000000Z-20260101T030000Z',
    );
  });

  it.each<[string, string[], RegExp]>([
    [
      'no state machine',
      ['backup', '--aws', '--source-name', 'prod'],
      /--aws needs --state-machine-arn \(or \$PROMVAULT_BACKUP_STATE_MACHINE_ARN\)/,
    ],
    [
      'a local-only flag',
      ['backup', '--aws', '--state-machine-arn', ARN, '--source-name', 'prod', '--store', '/tmp/x'],
      /--store is for --local runs/,
    ],
    [
      'an aws-only flag locally',
      ['restore', '--from', 'now-1h', '--to', 'now', '--execution-name', 'x'],
      /--execution-name is for --aws runs/,
    ],
    [
      'an unknown source',
      ['backup', '--aws', '--state-machine-arn', ARN, '--source-name', 'nope'],
      /--source-name nope is not a configured source/,
    ],
    [
      'a bad ARN',
      ['restore', '--aws', '--state-machine-arn', 'arn:x', '--from', 'now-1h', '--to', 'now'],
      /is not a state machine ARN/,
    ],
  ])('refuses %s before starting anything', async (_name, args, message) => {
    expect(await cli(...args)).toBe(2);
    expect(err).toMatch(message);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('refuses --local together with --aws', async () => {
    expect(await cli('backup', '--local', '--aws', '--source-name', 'prod')).toBe(2);
    expect(err).toMatch(/cannot be used with/);
  });

  it('takes the state machine from the environment', async () => {
    process.env.PROMVAULT_RESTORE_STATE_MACHINE_ARN = ARN;
    try {
      sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('n') });
      sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED' } as never);
      sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
      const code = await cli(
        'restore',
        '--aws',
        '--from',
        '2026-01-01T00:00:00Z',
        '--to',
        '2026-01-01T01:00:00Z',
        '--poll-interval',
        '0s',
        '--json',
      );
      expect(code).toBe(0);
      expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.stateMachineArn).toBe(ARN);
    } finally {
      delete process.env.PROMVAULT_RESTORE_STATE_MACHINE_ARN;
    }
  });
});
