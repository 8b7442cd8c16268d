/**
 * The local runner's ASL handling: CloudFormation token resolution, the stand-ins for what
 * aws-local-stepfunctions 3 cannot run (Distributed Map + ItemReader, ResultWriter, Task
 * timeouts), and how the library maps thrown errors onto Retry/Catch.
 */
import {
  allStates,
  dropField,
  localizeDefinition,
  UnsupportedStateError,
  DROP_ITEMS_RESOURCE,
} from '../../../../cli/local-runner/asl';
import { checkBindings, executeLocally, timingOverrides } from '../../../../cli/local-runner/runner';
import { bindTasks, DataLimitExceededError, LambdaFunctionError } from '../../../../cli/local-runner/bindings';
import { fileSecrets, localDeps, stderrLogger } from '../../../../cli/local-runner/local-deps';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { putJson } from '../../../../lambdas/handlers/io';
import { testConfig } from '../../handlers/fixtures';
import {
  functionIdOfArn,
  functionInfo,
  logicalIdOfOutput,
  stateMachineDefinition,
  TokenResolver,
  UnsupportedTokenError,
  type CfnTemplate,
  type Json,
} from '../../../../cli/local-runner/tokens';
import { SourceRejectedError, SourceUnavailableError } from '../../../../lambdas/core/errors';
import { synthesizeTemplate } from '../../../../cdk/lib/synth';
import { minimalConfig } from '../../cdk/helpers';

type Obj = { [key: string]: Json };

const template: CfnTemplate = {
  Resources: {
    Fn: { Type: 'AWS::Lambda::Function', Properties: { Timeout: 900, Description: 'promvault BackupShard' } },
    Bucket: { Type: 'AWS::S3::Bucket' },
    Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: {} },
  },
  Outputs: { BucketName: { Value: { Ref: 'Bucket' } } },
};

describe('TokenResolver', () => {
  const r = new TokenResolver(template, { refs: { Bucket: 'local-bucket' } });

  it('resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub and Fn::Select', () => {
    expect(r.resolve({ Ref: 'AWS::Partition' })).toBe('aws');
    expect(r.resolve({ Ref: 'Bucket' })).toBe('local-bucket');
    expect(r.resolve({ 'Fn::GetAtt': ['Fn', 'Arn'] })).toBe('arn:aws:lambda:us-east-1:000000000000:function:Fn');
    expect(r.resolve({ 'Fn::GetAtt': 'Bucket.Arn' })).toBe('arn:aws:s3:::local-bucket');
    expect(r.resolve({ Ref: 'Machine' })).toBe('arn:aws:states:us-east-1:000000000000:stateMachine:Machine');
    expect(r.resolve({ 'Fn::Join': ['', ['{"b":"', { Ref: 'Bucket' }, '"}']] })).toBe('{"b":"local-bucket"}');
    expect(r.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}/${!Literal}' })).toBe(
      'arn:aws:s3:::local-bucket/${Literal}',
    );
    expect(r.resolve({ 'Fn::Sub': ['${X}-${Fn.Arn}', { X: { Ref: 'Bucket' } }] })).toBe(
      'local-bucket-arn:aws:lambda:us-east-1:000000000000:function:Fn',
    );
    expect(r.resolve({ 'Fn::Select': [1, ['a', { Ref: 'AWS::Region' }]] })).toBe('us-east-1');
    expect(r.resolve({ nested: [{ Ref: 'AWS::AccountId' }] })).toEqual({ nested: ['000000000000'] });
  });

  it('refuses what it cannot evaluate, naming it', () => {
    expect(() => r.resolve({ 'Fn::If': ['C', 'a', 'b'] })).toThrow(UnsupportedTokenError);
    expect(() => r.resolve({ 'Fn::If': ['C', 'a', 'b'] })).toThrow(/Fn::If/);
    expect(() => r.resolve({ Ref: 'Nope' })).toThrow(/no resource Nope/);
  });

  it('maps a function ARN back to the template', () => {
    const arn = String(r.resolve({ 'Fn::GetAtt': ['Fn', 'Arn'] }));
    expect(functionIdOfArn(arn)).toBe('Fn');
    expect(functionIdOfArn('arn:aws:states:::s3:getObject')).toBeUndefined();
    expect(functionInfo(r, 'Fn')).toMatchObject({
      logicalId: 'Fn',
      timeoutSeconds: 900,
      description: 'promvault BackupShard',
    });
    expect(logicalIdOfOutput(template, 'BucketName')).toBe('Bucket');
  });
});

describe('the synthesized state machines', () => {
  let synthesized: CfnTemplate;
  beforeAll(() => {
    synthesized = synthesizeTemplate({ promvault: minimalConfig({ inlinePlanLimit: 2 }) }) as CfnTemplate;
  });

  it('resolve to plain ASL whose Lambda tasks name functions of the template', () => {
    const bucket = logicalIdOfOutput(synthesized, 'BucketName')!;
    const r = new TokenResolver(synthesized, { refs: { [bucket]: 'local-bucket' } });
    for (const output of ['BackupStateMachineArn', 'RestoreStateMachineArn']) {
      const asl = stateMachineDefinition(r, logicalIdOfOutput(synthesized, output)!);
      expect(JSON.stringify(asl)).not.toMatch(/Fn::|"Ref"/);
      const tasks = allStates(asl).filter(([, s]) => s.Type === 'Task');
      expect(tasks.length).toBeGreaterThanOrEqual(3);
      for (const [, s] of tasks) {
        const id = functionIdOfArn(String(s.Resource));
        expect(id).toBeDefined();
        expect(functionInfo(r, id!).timeoutSeconds).toBeGreaterThan(0);
      }
      const reader = allStates(asl).find(([, s]) => s.ItemReader !== undefined)![1].ItemReader as Obj;
      expect((reader.Parameters as Obj).Bucket).toBe('local-bucket');
    }
  });

  it('localize to a definition without Distributed Map features, every Task bounded by its function timeout', () => {
    const r = new TokenResolver(synthesized);
    const asl = stateMachineDefinition(r, logicalIdOfOutput(synthesized, 'BackupStateMachineArn')!);
    const local = localizeDefinition(asl, {
      taskTimeoutSeconds: (res) =>
        functionIdOfArn(res) ? functionInfo(r, functionIdOfArn(res)!).timeoutSeconds : undefined,
    });
    const text = JSON.stringify(local.definition);
    for (const gone of ['ItemReader', 'ResultWriter', 'ToleratedFailurePercentage', 'DISTRIBUTED'])
      expect(text).not.toContain(gone);
    const states = Object.fromEntries(allStates(local.definition));
    expect(states['BackupShardsFromS3.ReadItems']).toMatchObject({ Type: 'Task', Next: 'BackupShardsFromS3' });
    expect(states['BackupShardsFromS3.DropItems']).toMatchObject({ Next: 'CommitBackup' });
    expect(states.PlanMode!.Choices).toEqual(
      expect.arrayContaining([expect.objectContaining({ Next: 'BackupShardsFromS3.ReadItems' })]),
    );
    expect(states.BackupShard!.TimeoutSeconds).toBe(900);
    expect(states.PlanBackup!.TimeoutSeconds).toBe(300);
    expect(Object.keys(local.standIns).sort()).toEqual([
      'BackupShardsFromS3.DropItems',
      'BackupShardsFromS3.ReadItems',
    ]);
    // The synthesized definition itself is not changed.
    expect(JSON.stringify(asl)).toContain('ItemReader');
  });
});

/** A Distributed Map over a plan in S3, reached through a Choice, with a Catch. */
function distributedDefinition(overrides: Obj = {}): Obj {
  return {
    StartAt: 'Plan',
    States: {
      Plan: { Type: 'Pass', Next: 'Mode' },
      Mode: { Type: 'Choice', Choices: [{ Variable: '$.mode', StringEquals: 's3', Next: 'Shards' }], Default: 'Done' },
      Shards: {
        Type: 'Map',
        ResultPath: null,
        Next: 'Done',
        MaxConcurrency: 2,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'Work',
          States: { Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:W', End: true } },
        },
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { Bucket: 'b', 'Key.$': "States.Format('p/{}', $.planKey)" },
        },
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'b', Prefix: 'r' } },
        ToleratedFailurePercentage: 100,
        Label: 'Shards',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: 'Done' }],
        ...overrides,
      },
      Done: { Type: 'Succeed' },
    },
  };
}

describe('localizeDefinition', () => {
  it('replaces the ItemReader by ReadItems → inline Map → DropItems, and routes the Catch through DropItems', () => {
    const { definition, standIns } = localizeDefinition(distributedDefinition());
    const states = definition.States as Obj;
    const map = states.Shards as Obj;
    expect(map.ItemReader).toBeUndefined();
    expect(map.ResultWriter).toBeUndefined();
    expect(map.ToleratedFailurePercentage).toBeUndefined();
    expect(map.Label).toBeUndefined();
    expect((map.ItemProcessor as Obj).ProcessorConfig).toEqual({ Mode: 'INLINE' });
    expect(map.ItemsPath).toBe('$.__promvaultItems_Shards');
    expect(map.Next).toBe('Shards.DropItems');
    expect(states['Shards.ReadItems']).toEqual({
      Type: 'Task',
      Resource: 'arn:aws:states:::s3:getObject',
      Parameters: { Bucket: 'b', 'Key.$': "States.Format('p/{}', $.planKey)" },
      ResultPath: '$.__promvaultItems_Shards',
      TimeoutSeconds: 300,
      Next: 'Shards',
    });
    expect(states['Shards.DropItems']).toMatchObject({ Resource: DROP_ITEMS_RESOURCE, Next: 'Done' });
    expect((map.Catch as Obj[])[0]!.Next).toBe('Shards.DropItems.Catch0');
    expect(states['Shards.DropItems.Catch0']).toMatchObject({ Next: 'Done' });
    expect(((states.Mode as Obj).Choices as Obj[])[0]!.Next).toBe('Shards.ReadItems');
    expect(standIns['Shards.ReadItems']).toEqual({ kind: 'readItems', map: 'Shards' });
    expect(standIns['Shards.DropItems']).toEqual({
      kind: 'dropItems',
      map: 'Shards',
      field: ['__promvaultItems_Shards'],
    });
  });

  it('keeps items beside the effective input under an InputPath, and ends where the Map ended', () => {
    const { definition, standIns } = localizeDefinition(
      distributedDefinition({ InputPath: '$.job', End: true, Next: undefined as unknown as Json }),
    );
    const states = definition.States as Obj;
    expect(states['Shards.ReadItems']).toMatchObject({
      InputPath: '$.job',
      ResultPath: '$.job.__promvaultItems_Shards',
    });
    expect((states.Shards as Obj).ItemsPath).toBe('$.__promvaultItems_Shards');
    expect(states['Shards.DropItems']).toMatchObject({ End: true });
    expect(standIns['Shards.DropItems']).toMatchObject({ field: ['job', '__promvaultItems_Shards'] });
  });

  it('sets the function timeout on Tasks without one, and leaves explicit ones', () => {
    const def: Obj = {
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:A', Next: 'B' },
        B: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:B', TimeoutSeconds: 5, End: true },
      },
    };
    const { definition } = localizeDefinition(def, { taskTimeoutSeconds: () => 900 });
    expect((definition.States as Obj).A).toMatchObject({ TimeoutSeconds: 900 });
    expect((definition.States as Obj).B).toMatchObject({ TimeoutSeconds: 5 });
  });

  it.each<[string, Obj, RegExp]>([
    ['Assign', { Assign: { x: 1 } }, /Shards uses variables/],
    ['JSONata', { QueryLanguage: 'JSONata' }, /Shards uses JSONata/],
    ['ItemBatcher', { ItemBatcher: { MaxItemsPerBatch: 10 } }, /ItemBatcher/],
    [
      'CSV items',
      { ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'CSV' } } },
      /"CSV"/,
    ],
    ['S3 listing', { ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2' } }, /listObjectsV2/],
    ['kept Map Run results', { ResultPath: '$.results' }, /ResultWriter/],
    ['a JSONPath filter InputPath', { InputPath: '$.a[0]' }, /InputPath/],
  ])('refuses %s instead of running differently from AWS', (_name, overrides, message) => {
    expect(() => localizeDefinition(distributedDefinition(overrides))).toThrow(UnsupportedStateError);
    expect(() => localizeDefinition(distributedDefinition(overrides))).toThrow(message);
  });
});

describe('dropField', () => {
  it('removes a nested field without touching the rest', () => {
    const input = { a: { items: [1], keep: true }, b: 2 };
    expect(dropField(input, ['a', 'items'])).toEqual({ a: { keep: true }, b: 2 });
    expect(input.a.items).toEqual([1]);
    expect(dropField(input, ['missing', 'x'])).toBe(input);
    expect(dropField([1, 2], ['a'])).toEqual([1, 2]);
  });
});

describe('executeLocally', () => {
  it('runs the stand-ins so the Map sees the plan items and its output equals its input, as on AWS', async () => {
    const { definition, standIns } = localizeDefinition(distributedDefinition());
    const seen: Json[] = [];
    const execution = await executeLocally(
      definition,
      { mode: 's3', planKey: 'plans/x.json' },
      {
        executionName: 'e',
        stateMachineName: 'm',
        tasks: {
          'Shards.ReadItems': async (input) => {
            expect(input).toEqual({ Bucket: 'b', Key: 'p/plans/x.json' });
            return [{ n: 1 }, { n: 2 }, { n: 3 }];
          },
          'Shards.DropItems': async (input) =>
            dropField(input, (standIns['Shards.DropItems'] as { field: readonly string[] }).field),
          'Shards.DropItems.Catch0': async (input) => input,
          Work: async (item) => {
            seen.push(item);
            return { ok: true };
          },
        },
      },
    );
    expect(execution).toMatchObject({ status: 'SUCCEEDED', output: { mode: 's3', planKey: 'plans/x.json' } });
    expect(seen).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }, { n: 3 }]));
  });

  const retryCatch: Obj = {
    StartAt: 'Items',
    States: {
      Items: {
        Type: 'Map',
        ItemsPath: '$.items',
        ResultPath: null,
        End: true,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Work',
          States: {
            Work: {
              Type: 'Task',
              Resource: 'arn:aws:lambda:us-east-1:000000000000:function:W',
              Retry: [
                {
                  ErrorEquals: ['SourceUnavailableError'],
                  IntervalSeconds: 30,
                  MaxAttempts: 2,
                  BackoffRate: 2,
                  JitterStrategy: 'FULL',
                },
              ],
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'WorkFailed' }],
              End: true,
            },
            WorkFailed: { Type: 'Pass', End: true },
          },
        },
      },
    },
  };

  it("matches Retry and Catch on the thrown error's name, with a Lambda-style Cause; retryDelayMs shortens the waits", async () => {
    const calls: Record<number, number> = {};
    const caught: Json[] = [];
    const started = Date.now();
    const execution = await executeLocally(
      retryCatch,
      { items: [{ id: 1 }, { id: 2 }, { id: 3 }] },
      {
        executionName: 'e',
        stateMachineName: 'm',
        retryDelayMs: 1,
        tasks: {
          Work: async (input) => {
            const id = (input as { id: number }).id;
            calls[id] = (calls[id] ?? 0) + 1;
            if (id === 1 && calls[id] === 1) throw new LambdaFunctionError(new SourceUnavailableError('flaky'));
            if (id === 2) throw new LambdaFunctionError(new SourceRejectedError('no such series'));
            if (id === 3) throw new LambdaFunctionError(new SourceUnavailableError('down'));
            return { ok: id };
          },
        },
        onEvent: (e) => {
          if (e.type === 'StateExited' && e.state.name === 'WorkFailed') caught.push(e.state.output ?? null);
        },
      },
    );
    expect(execution.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeLessThan(5_000); // not 30 s + 60 s of ASL backoff
    expect(calls).toEqual({ 1: 2, 2: 1, 3: 3 }); // retried once; not retried (permanent); retried up to MaxAttempts
    expect(caught).toHaveLength(2);
    const byId = Object.fromEntries(caught.map((c) => [(c as { id: number }).id, (c as { error: Obj }).error]));
    expect(byId[2]!.Error).toBe('SourceRejectedError');
    expect(JSON.parse(String(byId[2]!.Cause))).toMatchObject({
      errorType: 'SourceRejectedError',
      errorMessage: 'no such series',
    });
    expect(byId[3]!.Error).toBe('SourceUnavailableError');
  });

  it('reports a failed execution with the error name and cause of the state that failed it', async () => {
    const def: Obj = {
      StartAt: 'Commit',
      States: {
        Commit: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:C', Next: 'Never' },
        Never: { Type: 'Fail', Error: 'Unreachable' },
      },
    };
    const boom = new SourceRejectedError('1 of 6 shards failed');
    boom.name = 'ShardsFailedError';
    const execution = await executeLocally(
      def,
      {},
      {
        executionName: 'e',
        stateMachineName: 'm',
        tasks: { Commit: async () => Promise.reject(new LambdaFunctionError(boom)) },
      },
    );
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ShardsFailedError');
    expect(JSON.parse(execution.cause!)).toMatchObject({ errorMessage: '1 of 6 shards failed' });

    // AWS evaluates an intrinsic in CausePath; the library needs the <Fail>.Values stand-in for it.
    const fail: Obj = {
      StartAt: 'F',
      States: { F: { Type: 'Fail', Error: 'RestoreIncomplete', CausePath: "States.Format('{} failed', $.n)" } },
    };
    const local = localizeDefinition(fail).definition;
    expect(local.StartAt).toBe('F.Values');
    expect((local.States as Obj)['F.Values']).toEqual({
      Type: 'Pass',
      Parameters: { 'CausePath.$': "States.Format('{} failed', $.n)" },
      ResultPath: '$.__promvaultFail_F',
      Next: 'F',
    });
    expect(
      await executeLocally(local, { n: 2 }, { executionName: 'e', stateMachineName: 'm', tasks: {} }),
    ).toMatchObject({
      status: 'FAILED',
      error: 'RestoreIncomplete',
      cause: '2 failed',
    });
  });

  it('refuses a Task without a local binding: the library would call the real Lambda', async () => {
    expect(() => checkBindings(retryCatch, {})).toThrow(/Work have no local binding/);
    await expect(
      executeLocally(retryCatch, { items: [] }, { executionName: 'e', stateMachineName: 'm', tasks: {} }),
    ).rejects.toThrow(UnsupportedStateError);
  });

  it('overrides Retry and Wait timing for every state that has them, nested ones included', () => {
    const def: Obj = {
      StartAt: 'W',
      States: { W: { Type: 'Wait', Seconds: 300, Next: 'Items' }, Items: (retryCatch.States as Obj).Items! },
    };
    expect(timingOverrides(def, { retryDelayMs: 5, waitMs: 7 })).toEqual({
      retryIntervalOverrides: { Work: 5 },
      waitTimeOverrides: { W: 7 },
    });
    expect(timingOverrides(def, {})).toEqual({ retryIntervalOverrides: {}, waitTimeOverrides: {} });
  });
});

describe('bindTasks', () => {
  const fnArn = 'arn:aws:lambda:us-east-1:000000000000:function:ReportFn';
  const machine = (resource: string, extra: Obj = {}): Obj => ({
    StartAt: 'Report',
    States: { Report: { Type: 'Task', Resource: resource, End: true, ...extra } },
  });
  const tpl = (description: string): CfnTemplate => ({
    Resources: { ReportFn: { Type: 'AWS::Lambda::Function', Properties: { Timeout: 120, Description: description } } },
  });
  const bind = (definition: Obj, description = 'promvault Report', store = new DirectoryStore('/nonexistent')) =>
    bindTasks({
      local: { definition, standIns: {} },
      resolver: new TokenResolver(tpl(description)),
      store,
      bucket: 'b',
      prefix: '',
      depsFor: () =>
        localDeps({
          config: testConfig(),
          local: { store, thawer: undefined as never, bucket: 'b' },
          secrets: fileSecrets(undefined),
          log: stderrLogger('silent'),
        }),
    });

  it('binds a Task invoking the function ARN to its handler, which gets the payload and fails as Lambda does', async () => {
    const tasks = bind(machine(fnArn));
    const err = await tasks.Report!({ planKey: 'restores/x/plan.json' }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(LambdaFunctionError);
    expect((err as Error).name).toBe('InputError'); // the handler's validation: runId is missing
    expect(JSON.parse((err as Error).message)).toMatchObject({
      errorType: 'InputError',
      errorMessage: expect.stringMatching(/runId/),
    });
  });

  it('binds the lambda:invoke integration: {FunctionName, Payload} in, {StatusCode, Payload} out', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'promvault-bind-'));
    try {
      const store = new DirectoryStore(dir);
      await putJson(store, 'restores/x/plan.json', []);
      const tasks = bind(
        machine('arn:aws:states:::lambda:invoke', { Parameters: { FunctionName: fnArn, 'Payload.$': '$' } }),
        'promvault Report',
        store,
      );
      const out = await tasks.Report!({
        FunctionName: fnArn,
        Payload: { runId: 'x', planKey: 'restores/x/plan.json' },
      });
      expect(out).toMatchObject({
        StatusCode: 200,
        Payload: { runId: 'x', reportKey: 'restores/x/report.json', shards: 0, failed_shards: 0 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a Task whose function is another handler's", () => {
    expect(() => bind(machine(fnArn), 'promvault Thaw')).toThrow(
      /runs handler Report locally but invokes promvault Thaw/,
    );
  });

  it('a result too large for the state fails as States.DataLimitExceeded, which no Catch handles', async () => {
    const execution = await executeLocally(
      {
        StartAt: 'T',
        States: {
          T: {
            Type: 'Task',
            Resource: fnArn,
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Succeed' },
        },
      },
      {},
      {
        executionName: 'e',
        stateMachineName: 'm',
        tasks: { T: async () => Promise.reject(new DataLimitExceededError('too big')) },
      },
    );
    expect(execution).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  });
});
