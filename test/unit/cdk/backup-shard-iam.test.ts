/**
 * The BackupShard role allows every S3 call the shard code makes, and nothing it does not make.
 * The calls are recorded from backupShard itself (a first backup, a forced re-run, a re-run of an
 * incomplete shard), mapped to the S3 and KMS actions and ARNs they need, and evaluated against
 * the policy statements of the synthesized template.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { DirectoryStore } from '../../../lambdas/adapters/dir-store';
import { backupShard } from '../../../lambdas/core/backup/shard';
import { RecordingStore, type StoreCall } from '../../harness/recording-store';
import { generatedReader, CRASH_SHARD } from '../../harness/crash-backup';
import { buildStack, minimalConfig } from './helpers';

const PREFIX = 'pv';
const { stack, template } = buildStack(minimalConfig({ bucket: { prefix: PREFIX } }));
const logicalId = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnResource);
const BUCKET_ARN = `<${logicalId(stack.archive.bucket)}.Arn>`;
const KEY_ARN = `<${logicalId(stack.archive.key)}.Arn>`;
const VIA_S3 = 's3.<AWS::Region>.amazonaws.com';

interface Statement {
  readonly Effect: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: unknown;
  readonly NotAction?: unknown;
  readonly NotResource?: unknown;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A CloudFormation ARN expression as text: {"Fn::GetAtt": ["Bucket1", "Arn"]} → "<Bucket1.Arn>". */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flat).join(separator);
  }
  if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Ref' in v) return `<${String(v.Ref)}>`;
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

/** An IAM pattern (`*` any run of characters, `?` one) as a regular expression. */
function wildcard(pattern: string, flags = ''): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, flags);
}

interface Request {
  readonly action: string;
  readonly resource: string;
}

/** What S3 (and, through it, KMS) checks for one store call; see lambdas/adapters/s3-store.ts. */
function requestsOf(call: StoreCall): Request[] {
  const object = `${BUCKET_ARN}/${PREFIX}/${call.key}`;
  const kms = (...actions: string[]) => actions.map((action) => ({ action, resource: KEY_ARN }));
  switch (call.op) {
    case 'get':
    case 'head':
      // A missing key is a 404 only to a principal that may list the bucket (else 403).
      return [
        { action: 's3:GetObject', resource: object },
        ...(call.missing ? [{ action: 's3:ListBucket', resource: BUCKET_ARN }] : kms('kms:Decrypt')),
      ];
    case 'put':
      // lib-storage uploads in parts (all s3:PutObject) and aborts a failed upload; SSE-KMS parts need both key actions.
      return [
        { action: 's3:PutObject', resource: object },
        { action: 's3:AbortMultipartUpload', resource: object },
        ...kms('kms:GenerateDataKey', 'kms:Decrypt'),
      ];
    case 'list':
      return [{ action: 's3:ListBucket', resource: BUCKET_ARN }];
    case 'delete':
      return [{ action: 's3:DeleteObject', resource: object }];
  }
}

function backupShardStatements(): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^BackupShardRole') }] },
  });
  const statements = Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
  expect(statements.length).toBeGreaterThan(0);
  return statements;
}

/** Only Allow statements with Action and Resource, and the one condition the stack uses: then this matcher is exact. */
function allows(statement: Statement, request: Request): boolean {
  const actionMatches = list(statement.Action).some((a) => wildcard(a, 'i').test(request.action));
  const resourceMatches = list(statement.Resource).some((r) => wildcard(flat(r)).test(request.resource));
  if (!actionMatches || !resourceMatches) return false;
  if (statement.Condition === undefined) return true;
  const viaService = (statement.Condition as { StringEquals?: Record<string, unknown> }).StringEquals?.[
    'kms:ViaService'
  ];
  const onlyViaService = Object.keys(statement.Condition as object).length === 1 && viaService !== undefined;
  return onlyViaService && request.action.startsWith('kms:') && flat(viaService) === VIA_S3;
}

let dir: string;
const calls: StoreCall[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-iam-'));
  const store = new RecordingStore(new DirectoryStore(dir));
  const run = (variant: 'old' | 'new', force: boolean, nowMs: number) =>
    backupShard({ reader: generatedReader(variant), store, nowMs: () => nowMs }, CRASH_SHARD, { force });
  const closed = CRASH_SHARD.window.endMs + 60_000;
  await run('old', false, CRASH_SHARD.window.startMs + 1); // incomplete: the window is still open
  await run('old', false, closed); // a re-run of the incomplete shard
  await run('new', true, closed); // a forced re-run of the committed one
  calls.push(...store.calls);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BackupShard role against the calls of backupShard', () => {
  test('the runs made every kind of call a re-run makes', () => {
    expect(new Set(calls.map((c) => c.op))).toEqual(new Set(['get', 'put', 'delete']));
    expect(calls.some((c) => c.op === 'get' && c.missing)).toBe(true);
  });

  test('the template has only Allow statements with Action and Resource, so the matcher is exact', () => {
    for (const s of backupShardStatements()) {
      expect(s).toMatchObject({ Effect: 'Allow' });
      expect(s.NotAction ?? s.NotResource).toBeUndefined();
    }
  });

  test('every call is allowed', () => {
    const statements = backupShardStatements();
    const denied = calls
      .flatMap(requestsOf)
      .filter((r) => !statements.some((s) => allows(s, r)))
      .map((r) => `${r.action} ${r.resource}`);
    expect(denied).toEqual([]);
  });

  test('every archive grant is used by some call (least privilege)', () => {
    const requests = calls.flatMap(requestsOf);
    const unused: string[] = [];
    for (const s of backupShardStatements()) {
      for (const action of list(s.Action).filter((a) => a.startsWith('s3:') || a.startsWith('kms:'))) {
        for (const resource of list(s.Resource).map(flat)) {
          if (!requests.some((r) => allows({ ...s, Action: action, Resource: resource }, r))) {
            unused.push(`${action} ${resource}`);
          }
        }
      }
    }
    expect(unused).toEqual([]);
  });

  test('the matcher: wildcards match only what they cover', () => {
    const s: Statement = { Effect: 'Allow', Action: 's3:Get*', Resource: `${BUCKET_ARN}/${PREFIX}/shards/*` };
    expect(allows(s, { action: 's3:getobject', resource: `${BUCKET_ARN}/${PREFIX}/shards/a/b.pvs` })).toBe(true);
    expect(allows(s, { action: 's3:PutObject', resource: `${BUCKET_ARN}/${PREFIX}/shards/a` })).toBe(false);
    expect(allows(s, { action: 's3:GetObject', resource: `${BUCKET_ARN}/${PREFIX}/manifests/a` })).toBe(false);
    expect(allows(s, { action: 's3:GetObject', resource: `${BUCKET_ARN}/${PREFIX}xshards/a` })).toBe(false);
    expect(wildcard('a?c').test('abc') && !wildcard('a?c').test('abbc') && !wildcard('a.c').test('abc')).toBe(true);
  });
});
