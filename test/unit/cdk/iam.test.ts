/**
 * Issue 15, IAM proven locally: every AWS API call each function makes is allowed by the role
 * the synthesized template gives that function, and every grant of that role is used by some
 * call (least privilege) or has a written reason here.
 *
 * The calls are recorded while the local runner runs the synthesized backup and restore state
 * machines (a first scheduled run without a checkpoint, through the Distributed Map; a shard
 * whose window is still open, then its re-run from the checkpoint; a forced re-run; a restore
 * that thaws archived shards) and while Thaw and RestoreShard meet a shard object that is gone,
 * per function of the template (test/harness/aws-calls.ts). The template's policies, bucket policy
 * and key policy are resolved to the same ARNs and evaluated with @cloud-copilot/iam-simulate
 * (test/harness/iam-policies.ts). Data-driven over the template's functions: a new function
 * fails here until a scenario below runs it.
 */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBackupLocally, runRestoreLocally, templateFor } from '../../../cli/local-runner/api';
import { functionConfig } from '../../../cli/local-runner/bindings';
import {
  DIRECTORY_BUCKET,
  fileSecrets,
  localDeps,
  openLocalStore,
  stderrLogger,
} from '../../../cli/local-runner/local-deps';
import {
  functionInfo,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  logicalIdOfOutput,
  TokenResolver,
  type CfnTemplate,
} from '../../../cli/local-runner/tokens';
import { FEDERATE_CAPTURE, HANDLERS, type RestoreShardTask } from '../../../lambdas/handlers/contracts';
import * as federateCapture from '../../../lambdas/handlers/federate-capture';
import type { FederateScraper } from '../../../lambdas/core/ports';
import type { HandlerDeps } from '../../../lambdas/handlers/deps';
import { getJson, restorePlanKey } from '../../../lambdas/handlers/io';
import * as restoreShard from '../../../lambdas/handlers/restore-shard';
import * as thaw from '../../../lambdas/handlers/thaw';
import {
  GlacierSimulation,
  recordingSecrets,
  runtimeCalls,
  s3CallsOf,
  type ArchiveArns,
  type AwsCall,
} from '../../harness/aws-calls';
import {
  decide,
  describeGrant,
  functionRoles,
  grantsOf,
  onlyGrant,
  resourcePolicies,
  withoutGrant,
  type FunctionRole,
  type Grant,
  type NamedPolicy,
  type PolicyDocument,
} from '../../harness/iam-policies';
import { RecordingStore } from '../../harness/recording-store';
import { FakeReader, FakeWriter, HOUR, invoke, lambdaContext, MINUTE, T0 } from '../handlers/fixtures';

const DAY = 24 * HOUR;
const TARGET = 'http://target.internal:9090/api/v1/write';
const SECRETS = {
  'prom-creds': { bearerToken: 'iam-test-token' },
  'target-creds': { username: 'writer', password: 'iam-test-password' },
  'edge-creds': { bearerToken: 'iam-test-edge-token' },
};

/** Grants no handler code exercises, each with why the role still needs it. */
const UNUSED_WITH_REASON: Readonly<Record<string, string>> = {
  'ec2:CreateNetworkInterface': 'Lambda attaches a VPC function with its role; the handlers never call EC2',
  'ec2:DescribeNetworkInterfaces': 'Lambda attaches a VPC function with its role; the handlers never call EC2',
  'ec2:DeleteNetworkInterface': 'Lambda detaches a VPC function with its role; the handlers never call EC2',
  'ec2:AssignPrivateIpAddresses': 'Lambda attaches a VPC function with its role; the handlers never call EC2',
  'ec2:UnassignPrivateIpAddresses': 'Lambda detaches a VPC function with its role; the handlers never call EC2',
};

interface Scenario {
  readonly name: string;
  readonly promvault: Record<string, unknown>;
  /** Objects reach an archive tier (the thaw step restores them). */
  readonly archived: boolean;
  /** A federate-mode source too: the FederateCapture function runs (federateCaptures). */
  readonly federate?: boolean;
}

/** The federate-mode source of the scenarios that have one. */
const FEDERATE_SOURCE = {
  name: 'edge',
  mode: 'federate',
  url: 'http://edge-prometheus.internal:9090',
  interval: '15s',
  credentialsSecretName: 'edge-creds',
};

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'defaults (archive tier on, no secrets)',
    promvault: {
      sources: [{ name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090', initialLookback: '150m' }],
      restore: { targetUrl: TARGET },
      inlinePlanLimit: 1,
    },
    archived: true,
  },
  {
    name: 'Object Lock, secrets, replicas, VPC, a prefix, no archive tier',
    promvault: {
      sources: [
        {
          name: 'prod',
          remoteReadUrl: 'http://prometheus-a.internal:9090',
          replicas: ['http://prometheus-b.internal:9090'],
          replicaLabels: ['replica'],
          credentialsSecretName: 'prom-creds',
          initialLookback: '150m',
          vpc: {
            vpcId: 'vpc-0123456789abcdef0',
            subnetIds: ['subnet-0123456789abcdef0'],
            securityGroupIds: ['sg-0123456789abcdef0'],
          },
        },
        FEDERATE_SOURCE,
      ],
      bucket: {
        prefix: 'pv/archive',
        objectLock: { mode: 'GOVERNANCE', days: 30 },
        transitions: { archiveDays: null },
      },
      restore: { targetUrl: TARGET, targetSecretName: 'target-creds' },
      inlinePlanLimit: 1,
    },
    archived: false,
    federate: true,
  },
];

interface World {
  readonly template: CfnTemplate;
  readonly roles: readonly FunctionRole[];
  readonly resourcePolicyOf: (resource: string) => PolicyDocument | undefined;
  /** Recorded calls per function logical ID, without repeats. */
  readonly calls: ReadonlyMap<string, readonly AwsCall[]>;
  readonly outcomes: readonly string[];
}

/** Runs backups and a restore through the local runner, recording each function's calls. */
async function record(scenario: Scenario): Promise<World> {
  const context = { promvault: scenario.promvault };
  const template = templateFor(context);
  const bucketId = logicalIdOfOutput(template, 'BucketName')!;
  const resolver = new TokenResolver(template, { refs: { [bucketId]: DIRECTORY_BUCKET } });
  const roles = functionRoles(resolver);
  const encryption = (template.Resources[bucketId]!.Properties as Record<string, unknown>).BucketEncryption as {
    ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { KMSMasterKeyID: unknown } }[];
  };
  const keyArn = resolver.resolveString(
    encryption.ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault.KMSMasterKeyID,
    'the archive key',
  );

  const dir = await mkdtemp(path.join(tmpdir(), 'promvault-iam-'));
  const secretsFile = path.join(dir, 'secrets.json');
  await writeFile(secretsFile, JSON.stringify(SECRETS));
  const glacier = new GlacierSimulation(scenario.archived);
  const direct = new Map<string, AwsCall[]>();
  const stores: { functionId: string; archive: ArchiveArns; store: RecordingStore }[] = [];
  let clock = 0;
  let invocation = 0;

  const deps = (d: HandlerDeps, fn: { functionId: string }): HandlerDeps => {
    const config = d.config();
    const calls = direct.get(fn.functionId) ?? [];
    direct.set(fn.functionId, calls);
    const role = roles.find((r) => r.functionId === fn.functionId)!;
    calls.push(...runtimeCalls(role.logGroupArn, `2026/01/01/[$LATEST]${++invocation}`));
    const archive: ArchiveArns = {
      bucketArn: `arn:aws:s3:::${config.bucket}`,
      keyArn,
      keyPrefix: config.prefix === '' ? '' : `${config.prefix}/`,
      region: LOCAL_REGION,
    };
    const store = new RecordingStore(d.store(config));
    stores.push({ functionId: fn.functionId, archive, store });
    const push = (c: AwsCall) => calls.push(c);
    return {
      ...d,
      store: () => store,
      reader: (url) => new FakeReader(url),
      writer: (url) => new FakeWriter(url),
      thawer: () => glacier.thawer(d.store(config), config.bucket, config.prefix, push),
      secrets: recordingSecrets(SECRETS, { region: LOCAL_REGION, account: LOCAL_ACCOUNT }, push),
      nowMs: () => clock,
    };
  };
  const common = { context, store: dir, secretsFile, fast: true, preflight: false, logLevel: 'silent', deps } as const;
  const iso = (ms: number) => new Date(ms).toISOString();
  const backup = (nowMs: number, range: { from?: string; to?: string; force?: boolean }) => {
    clock = nowMs;
    return runBackupLocally({ ...common, sourceName: 'prod', ...range });
  };
  const outcomes: string[] = [];
  try {
    const runs = [
      // Scheduled, the first ever: no checkpoint (a missing key); two shards, through the Distributed Map.
      await backup(T0 + 150 * MINUTE, {}),
      // The next shard while its window is still open: stored incomplete.
      await backup(T0 + 150 * MINUTE, { from: iso(T0 + 2 * HOUR), to: iso(T0 + 3 * HOUR) }),
      // From the checkpoint: the incomplete shard's re-run; its commit deletes a killed run's object.
      await plantLeftover(dir, T0).then(() => backup(T0 + DAY, { to: iso(T0 + 3 * HOUR) })),
      await backup(T0 + DAY, { from: iso(T0), to: iso(T0 + 3 * HOUR), force: true }),
    ];
    const restore = await runRestoreLocally({ ...common, from: iso(T0), to: iso(T0 + 3 * HOUR), target: TARGET });
    outcomes.push(...[...runs, restore].map((r) => `${r.status}${r.error ? ` ${r.error}` : ''}`));
    outcomes.push(...(await missingObject(resolver, restore.run_id!, common, deps)));
    if (scenario.federate === true)
      outcomes.push(
        ...(await federateCaptures(resolver, common, deps, {
          now: () => clock,
          advance: (ms) => {
            clock += Math.max(0, ms);
          },
          set: (ms) => {
            clock = ms;
          },
        })),
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const calls = new Map<string, AwsCall[]>();
  const seen = new Set<string>();
  const add = (functionId: string, list: readonly AwsCall[]) => {
    for (const c of list) {
      const key = `${functionId} ${c.action} ${c.resource} ${JSON.stringify(c.context)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      calls.set(functionId, [...(calls.get(functionId) ?? []), c]);
    }
  };
  for (const [functionId, list] of direct) add(functionId, list);
  for (const s of stores)
    add(
      s.functionId,
      s.store.calls.flatMap((c) => s3CallsOf(c, s.archive)),
    );
  return { template, roles, resourcePolicyOf: resourcePolicies(resolver), calls, outcomes };
}

/** An object of a run killed before its manifest, written at `atMs`: gc's to delete. */
async function plantLeftover(dir: string, atMs: number): Promise<void> {
  const file = path.join(dir, 'shards', 'prod', '2026', '01', '01', 'killed-run.v1.pvs');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, 'left behind');
  await utimes(file, new Date(atMs), new Date(atMs));
}

/**
 * A shard object gone between plan and restore (expired, deleted by hand): Thaw and RestoreShard,
 * called directly with the restore's plan, find it missing, which S3 tells them (404, not 403)
 * only because they may list the bucket. Returns how each call ended.
 */
async function missingObject(
  resolver: TokenResolver,
  runId: string,
  common: { store: string; secretsFile: string },
  hook: (d: HandlerDeps, fn: { functionId: string }) => HandlerDeps,
): Promise<string[]> {
  const local = openLocalStore(common.store);
  const planKey = restorePlanKey(runId);
  const tasks = (await getJson(local.store, planKey)) as RestoreShardTask[];
  const manifest = (await getJson(local.store, tasks[0]!.manifestKey)) as { object_key: string };
  await local.store.delete(manifest.object_key);
  const depsOf = (role: keyof typeof HANDLERS) => {
    const id = Object.keys(resolver.template.Resources).find(
      (k) => resolver.template.Resources[k]!.Properties?.Description === `promvault ${HANDLERS[role]}`,
    )!;
    const config = functionConfig(functionInfo(resolver, id));
    const base = localDeps({ config, local, secrets: fileSecrets(common.secretsFile), log: stderrLogger('silent') });
    return hook(base, { functionId: id });
  };
  const ended = (p: Promise<unknown>) =>
    p.then(
      () => 'returned',
      (err: Error) => err.name,
    );
  return [
    await ended(invoke(thaw.createHandler(depsOf('thaw')), { runId, planKey, thawTier: 'Bulk' })),
    await ended(invoke(restoreShard.createHandler(depsOf('restoreShard')), tasks[0])),
  ];
}

/** Answers like /federate: one series, stamped `lateMs` before the clock (a late sample when > 0). */
class ClockScraper implements FederateScraper {
  readonly endpoint = 'http://edge-prometheus.internal:9090/federate';
  lateMs = 0;
  constructor(private readonly now: () => number) {}
  async scrape(): Promise<string> {
    const ts = this.now() - this.lateMs;
    return `up{job="edge"} ${ts % 5} ${ts}\n`;
  }
}

/**
 * Two scheduled captures of the federate source, called directly: the first commits snapshots
 * and compacts the window that ends meanwhile (first manifest, first checkpoint); the second gets
 * a late sample of that window, so its compaction reads the committed shard, replaces it and
 * deletes the superseded object.
 */
async function federateCaptures(
  resolver: TokenResolver,
  common: { store: string; secretsFile: string },
  hook: (d: HandlerDeps, fn: { functionId: string }) => HandlerDeps,
  clock: { now: () => number; advance: (ms: number) => void; set: (ms: number) => void },
): Promise<string[]> {
  const local = openLocalStore(common.store);
  const id = Object.keys(resolver.template.Resources).find(
    (k) => resolver.template.Resources[k]!.Properties?.Description === `promvault ${FEDERATE_CAPTURE}`,
  )!;
  const config = functionConfig(functionInfo(resolver, id));
  const scraper = new ClockScraper(clock.now);
  const deps = (): HandlerDeps => ({
    ...hook(localDeps({ config, local, secrets: fileSecrets(common.secretsFile), log: stderrLogger('silent') }), {
      functionId: id,
    }),
    scraper: () => scraper,
    sleep: async (ms) => clock.advance(ms),
  });
  const ended = (p: Promise<unknown>) =>
    p.then(
      () => 'captured',
      (err: Error) => err.name,
    );
  const capture = () =>
    ended(invoke(federateCapture.createHandler(deps()), { source: 'edge' }, lambdaContext(120_000)));
  clock.set(T0 + 2 * DAY - 30_000);
  const first = await capture();
  scraper.lateMs = 2 * MINUTE;
  return [first, await capture()];
}

const worlds = new Map<Scenario, Promise<World>>();
/** Each scenario runs once per file, however many describe blocks use it. */
function worldOf(scenario: Scenario): Promise<World> {
  let world = worlds.get(scenario);
  if (world === undefined) worlds.set(scenario, (world = record(scenario)));
  return world;
}

const show = (c: AwsCall) => `${c.action} ${c.resource} (${c.origin})`;

async function denied(world: World, role: FunctionRole, policies: readonly NamedPolicy[], calls: readonly AwsCall[]) {
  const out: AwsCall[] = [];
  for (const call of calls)
    if ((await decide(call, role.roleArn, policies, world.resourcePolicyOf)) !== 'Allowed') out.push(call);
  return out;
}

/** An IAM action pattern (`*`, `?`) as a test of action names, which IAM compares without case. */
function actionPattern(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

const users = new WeakMap<World, Map<string, Promise<AwsCall[]>>>();
/** The calls `grant` alone allows (the simulator decides; the action is only a pre-filter). */
function usersOf(world: World, role: FunctionRole, grant: Grant): Promise<AwsCall[]> {
  const cache = users.get(world) ?? new Map<string, Promise<AwsCall[]>>();
  users.set(world, cache);
  const key = `${role.functionId} ${JSON.stringify(grant)}`;
  let found = cache.get(key);
  if (found === undefined) {
    const alone = onlyGrant(grant);
    const action = actionPattern(grant.action);
    found = (async () => {
      const out: AwsCall[] = [];
      for (const call of world.calls.get(role.functionId) ?? [])
        if (action.test(call.action) && (await decide(call, role.roleArn, alone, world.resourcePolicyOf)) === 'Allowed')
          out.push(call);
      return out;
    })();
    cache.set(key, found);
  }
  return found;
}

describe.each(SCENARIOS)('IAM of every function: $name', (scenario) => {
  let world: World;

  beforeAll(async () => {
    world = await worldOf(scenario);
  }, 180_000);

  test('the runs succeeded, and every function of the template made calls', () => {
    expect(world.outcomes).toEqual([
      ...Array(5).fill('SUCCEEDED'),
      'ObjectNotFoundError',
      'ObjectNotFoundError',
      ...(scenario.federate === true ? ['captured', 'captured'] : []),
    ]);
    const silent = world.roles
      .filter((r) => (world.calls.get(r.functionId) ?? []).length === 0)
      .map(
        (r) =>
          `function ${r.functionId} (role ${r.roleId}) made no recorded call: add a scenario to ` +
          'test/unit/cdk/iam.test.ts that runs it (a local-runner run or a direct handler call), so its grants are proven',
      );
    expect(silent).toEqual([]);
  });

  test('every recorded call is allowed by the role the template gives that function', async () => {
    const problems: string[] = [];
    for (const role of world.roles) {
      for (const call of await denied(world, role, role.policies, world.calls.get(role.functionId) ?? []))
        problems.push(`${role.functionId}: ${show(call)} is denied`);
    }
    expect(problems).toEqual([]);
  });

  test('every grant is used by a recorded call of its function, or has a written reason', async () => {
    const unused: string[] = [];
    for (const role of world.roles) {
      for (const grant of grantsOf(role.policies)) {
        if (UNUSED_WITH_REASON[grant.action] !== undefined) continue;
        if ((await usersOf(world, role, grant)).length === 0)
          unused.push(`${role.functionId}: ${describeGrant(grant)} is never used`);
      }
    }
    expect(unused).toEqual([]);
  });

  test('taking any grant out of the template denies a call that needs it', async () => {
    const redundant: string[] = [];
    for (const role of world.roles) {
      for (const grant of grantsOf(role.policies)) {
        const users = await usersOf(world, role, grant);
        if (users.length === 0) continue;
        const lost = await denied(world, role, withoutGrant(role.policies, grant), users);
        if (lost.length === 0)
          redundant.push(`${role.functionId}: ${describeGrant(grant)} is covered by another grant`);
      }
    }
    expect(redundant).toEqual([]);
  });
});

describe('the evaluation fails when the template lacks a grant', () => {
  let world: World;

  beforeAll(async () => {
    world = await worldOf(SCENARIOS[0]!);
  }, 180_000);

  const roleOf = (prefix: string) => world.roles.find((r) => r.functionId.startsWith(prefix))!;
  const grant = (role: FunctionRole, action: string, resourceEnd: string) =>
    grantsOf(role.policies).find((g) => g.action === action && g.resource.endsWith(resourceEnd))!;

  test.each([
    ['BackupShard', 's3:DeleteObject', '/shards/*'],
    ['BackupShard', 's3:PutObject', '/manifests/*'],
    ['CommitBackup', 's3:PutObject', '/checkpoints/*'],
    ['CommitBackup', 's3:DeleteObject', '/shards/*'],
    ['Thaw', 's3:RestoreObject', '/shards/*'],
    ['RestoreShard', 's3:GetObject', '/shards/*'],
    ['PlanBackup', 's3:ListBucket', DIRECTORY_BUCKET],
  ])('%s without %s on *%s', async (fn, action, resourceEnd) => {
    const role = roleOf(fn);
    const taken = grant(role, action, resourceEnd);
    expect(taken).toBeDefined();
    const mutated = withoutGrant(role.policies, taken);
    expect(grantsOf(mutated)).toHaveLength(grantsOf(role.policies).length - 1);
    const lost = await denied(world, role, mutated, world.calls.get(role.functionId) ?? []);
    expect(lost.map((c) => c.action)).toContain(action);
    expect(lost.every((c) => c.action === action)).toBe(true);
  });

  test('a KMS grant is allowed only through S3, as its condition says', async () => {
    const role = roleOf('BackupShard');
    const call = (world.calls.get(role.functionId) ?? []).find((c) => c.action === 'kms:GenerateDataKey')!;
    expect(await decide(call, role.roleArn, role.policies, world.resourcePolicyOf)).toBe('Allowed');
    const direct = { ...call, context: {} };
    expect(await decide(direct, role.roleArn, role.policies, world.resourcePolicyOf)).toBe('ImplicitlyDenied');
  });

  test('the bucket policy denies a request without TLS', async () => {
    const role = roleOf('BackupShard');
    const call = (world.calls.get(role.functionId) ?? []).find((c) => c.action === 's3:PutObject')!;
    const plain = { ...call, context: { 'aws:SecureTransport': 'false' } };
    expect(await decide(plain, role.roleArn, role.policies, world.resourcePolicyOf)).toBe('ExplicitlyDenied');
  });
});
