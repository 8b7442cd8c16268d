/**
 * cdk-nag (v3) acknowledgments for the IAM wildcards that least privilege cannot avoid.
 *
 * AwsSolutions-IAM5 reports every `*` in an allowed action or resource as its own finding,
 * `AwsSolutions-IAM5[Resource::<Bucket.Arn>/shards/*]`. Rather than pasting generated logical
 * ids into suppressions, this walks the synthesized policies once the stack is built and
 * acknowledges a finding only where one of the justified patterns below explains it; anything
 * else stays a finding and fails `cdk synth`.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
// The function cdk-nag itself uses to name findings, so the ids match exactly.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

interface Justification {
  /** The flattened resource (or `*`) this reason covers. */
  readonly resource: RegExp;
  /** The actions it covers. */
  readonly actions: RegExp;
  readonly reason: string;
}

const ARCHIVE_FOLDER =
  /^<[A-Za-z0-9]+\.Arn>\/(?:[A-Za-z0-9!_.()-]+\/)*(shards|manifests|checkpoints|plans|restores|snapshots)\/(?:map-results\/)?\*$/;

export const JUSTIFIED_WILDCARDS: readonly Justification[] = [
  {
    resource: ARCHIVE_FOLDER,
    actions: /^(s3:(GetObject|PutObject|AbortMultipartUpload|RestoreObject|DeleteObject|ListMultipartUploadParts))$/,
    reason:
      'Object access scoped to one folder of the archive prefix; an S3 ARN can only name a folder with a trailing *.',
  },
  {
    resource: /^<[A-Za-z0-9]+\.Arn>:\*$/,
    actions: /^lambda:InvokeFunction$/,
    reason:
      "Invocation of this one function's versions and aliases (`<function arn>:*`, as CDK grants it to Step Functions).",
  },
  {
    resource: /^\*$/,
    actions: /^xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)$/,
    reason:
      'X-Ray trace submission has no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).',
  },
  {
    resource: /^\*$/,
    actions:
      /^logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$/,
    reason:
      'Step Functions log delivery to CloudWatch Logs requires these actions on * (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).',
  },
  {
    resource: /^\*$/,
    actions:
      /^ec2:(CreateNetworkInterface|DescribeNetworkInterfaces|DeleteNetworkInterface|AssignPrivateIpAddresses|UnassignPrivateIpAddresses)$/,
    reason: 'Lambda attaches functions to the VPC with these EC2 actions, which take no resource ARN.',
  },
  {
    resource: /^arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.+:\*$/,
    actions: /^states:(DescribeExecution|StopExecution|RedriveExecution)$/,
    reason:
      'Executions of this one state machine (its distributed Map starts child executions), whose ids are only known at run time.',
  },
];

interface Statement {
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Acknowledges the justified IAM5 findings under `scope`; returns the findings left for cdk-nag to report. */
export function acknowledgeJustifiedWildcards(scope: IConstruct): string[] {
  const left: string[] = [];
  for (const node of scope.node.findAll()) {
    if (!(node instanceof iam.CfnPolicy)) continue;
    // A finding is acknowledged only if every statement it appears in is justified.
    const reasons = new Map<string, string | undefined>();
    const doc = Stack.of(node).resolve(node.policyDocument) as { Statement?: Statement[] };
    for (const statement of doc.Statement ?? []) {
      if (statement.Effect !== 'Allow') continue;
      const actions = list(statement.Action);
      for (const resource of list(statement.Resource).map((r) => flattenCfnReference(r))) {
        if (!resource.includes('*')) continue;
        // minimizePolicies merges statements on the same resource: each action needs its own justification.
        const why = actions.map(
          (a) => JUSTIFIED_WILDCARDS.find((j) => j.resource.test(resource) && j.actions.test(a))?.reason,
        );
        const reason = why.every((r) => r !== undefined) ? [...new Set(why)].join(' ') : undefined;
        const id = `AwsSolutions-IAM5[Resource::${resource}]`;
        reasons.set(id, reasons.has(id) && reasons.get(id) === undefined ? undefined : reason);
      }
    }
    for (const [id, reason] of reasons) {
      if (reason === undefined) left.push(`${node.node.path}: ${id}`);
      else Validations.of(node).acknowledge({ id, reason });
    }
  }
  return left;
}
