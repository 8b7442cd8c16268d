/**
 * The IAM side of the synthesized template, resolved to concrete ARNs by the local runner's
 * TokenResolver (the same ARNs the recorded calls name), and evaluated by
 * @cloud-copilot/iam-simulate: each Lambda function's role with the policies attached to it,
 * the archive's bucket policy and its key's key policy, and the grants (one action on one
 * resource pattern) those policies are made of.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { LOCAL_ACCOUNT, type CfnTemplate, type TokenResolver } from '../../cli/local-runner/tokens';
import type { AwsCall } from './aws-calls';

export interface Statement {
  readonly Effect: string;
  readonly Action?: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
  readonly [key: string]: unknown;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: Statement[];
}

export interface NamedPolicy {
  readonly name: string;
  readonly document: PolicyDocument;
}

export interface FunctionRole {
  readonly functionId: string;
  readonly roleId: string;
  readonly roleArn: string;
  readonly logGroupArn: string;
  readonly policies: readonly NamedPolicy[];
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
type Props = Record<string, unknown>;
const propsOf = (template: CfnTemplate, id: string): Props => template.Resources[id]?.Properties ?? {};

function refId(value: unknown): string | undefined {
  const v = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown } | undefined;
  if (typeof v?.Ref === 'string') return v.Ref;
  const att = v?.['Fn::GetAtt'];
  if (Array.isArray(att)) return String(att[0]);
  return undefined;
}

function document(resolver: TokenResolver, doc: unknown): PolicyDocument {
  const resolved = resolver.resolve(doc) as unknown as PolicyDocument;
  return { Version: '2012-10-17', ...resolved };
}

/** Every Lambda function of the template with its role and the policies the template attaches to that role. */
export function functionRoles(resolver: TokenResolver): FunctionRole[] {
  const template = resolver.template;
  const ids = Object.keys(template.Resources);
  return ids
    .filter((id) => template.Resources[id]!.Type === 'AWS::Lambda::Function')
    .map((functionId) => {
      const props = propsOf(template, functionId);
      const roleId = refId(props.Role);
      if (roleId === undefined) throw new Error(`function ${functionId} has a role outside the template`);
      const roleProps = propsOf(template, roleId);
      if (list(roleProps.ManagedPolicyArns as unknown[]).length > 0)
        throw new Error(`role ${roleId} has managed policies: this test evaluates only the template's own policies`);
      const inline = list(roleProps.Policies as { PolicyName: string; PolicyDocument: unknown }[]).map((p) => ({
        name: `${roleId}/${p.PolicyName}`,
        document: document(resolver, p.PolicyDocument),
      }));
      const attached = ids
        .filter((id) => template.Resources[id]!.Type === 'AWS::IAM::Policy')
        .filter((id) => list(propsOf(template, id).Roles as unknown[]).some((r) => refId(r) === roleId))
        .map((id) => ({ name: id, document: document(resolver, propsOf(template, id).PolicyDocument) }));
      const logGroupId = refId((props.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup);
      if (logGroupId === undefined) throw new Error(`function ${functionId} has no log group of its own`);
      return {
        functionId,
        roleId,
        roleArn: resolver.resolveString({ 'Fn::GetAtt': [roleId, 'Arn'] }, `${roleId}.Arn`),
        logGroupArn: resolver.resolveString({ 'Fn::GetAtt': [logGroupId, 'Arn'] }, `${logGroupId}.Arn`),
        policies: [...inline, ...attached],
      };
    });
}

/** The resource policy S3 or KMS applies to a resource: bucket policies and key policies of the template. */
export function resourcePolicies(resolver: TokenResolver): (resource: string) => PolicyDocument | undefined {
  const template = resolver.template;
  const byArn = new Map<string, PolicyDocument>();
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::S3::BucketPolicy') {
      const bucket = refId(r.Properties?.Bucket);
      if (bucket === undefined) continue;
      const arn = resolver.resolveString({ 'Fn::GetAtt': [bucket, 'Arn'] }, `${bucket}.Arn`);
      byArn.set(arn, document(resolver, r.Properties?.PolicyDocument));
    } else if (r.Type === 'AWS::KMS::Key') {
      byArn.set(
        resolver.resolveString({ 'Fn::GetAtt': [id, 'Arn'] }, `${id}.Arn`),
        document(resolver, r.Properties?.KeyPolicy),
      );
    }
  }
  return (resource) => {
    const bucketArn = resource.startsWith('arn:aws:s3:::') ? resource.split('/')[0]! : resource;
    return byArn.get(bucketArn);
  };
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** What IAM decides for `call` made by `role` under `policies`. Throws when the simulator rejects the request as invalid. */
export async function decide(
  call: AwsCall,
  principal: string,
  policies: readonly NamedPolicy[],
  resourcePolicyOf: (resource: string) => PolicyDocument | undefined,
): Promise<Decision> {
  const resourcePolicy = resourcePolicyOf(call.resource);
  const simulation: Simulation = {
    identityPolicies: policies.map((p) => ({ name: p.name, policy: p.document })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(resourcePolicy !== undefined ? { resourcePolicy } : {}),
    request: {
      action: call.action,
      principal,
      resource: { accountId: LOCAL_ACCOUNT, resource: call.resource },
      contextVariables: { ...call.context },
    },
  } as Simulation;
  const result = await runSimulation(simulation, {});
  if (result.resultType === 'error')
    throw new Error(`iam-simulate refused ${call.action} ${call.resource}: ${JSON.stringify(result.errors)}`);
  return result.overallResult as Decision;
}

/** One action on one resource pattern of one statement: the unit of least privilege. */
export interface Grant {
  readonly policy: string;
  readonly statement: number;
  readonly action: string;
  readonly resource: string;
  readonly condition?: Statement['Condition'];
}

export const describeGrant = (g: Grant) =>
  `${g.action} on ${g.resource}${g.condition ? ` if ${JSON.stringify(g.condition)}` : ''} (${g.policy})`;

/** Every Allow grant of `policies`; a statement with NotAction/NotResource is refused (it cannot be split so). */
export function grantsOf(policies: readonly NamedPolicy[]): Grant[] {
  return policies.flatMap((p) =>
    p.document.Statement.flatMap((s, statement) => {
      if (s.NotAction !== undefined || s.NotResource !== undefined)
        throw new Error(`${p.name} statement ${statement} uses NotAction/NotResource: grant it by Action and Resource`);
      if (s.Effect !== 'Allow') return [];
      return list(s.Action).flatMap((action) =>
        list(s.Resource).map((resource) => ({
          policy: p.name,
          statement,
          action,
          resource,
          ...(s.Condition !== undefined ? { condition: s.Condition } : {}),
        })),
      );
    }),
  );
}

/** A policy holding only `grant`. */
export function onlyGrant(grant: Grant): NamedPolicy[] {
  const statement: Statement = {
    Effect: 'Allow',
    Action: grant.action,
    Resource: grant.resource,
    ...(grant.condition !== undefined ? { Condition: grant.condition } : {}),
  };
  return [{ name: grant.policy, document: { Version: '2012-10-17', Statement: [statement] } }];
}

/** `policies` with `grant` taken out of its statement (the statement's other actions and resources stay). */
export function withoutGrant(policies: readonly NamedPolicy[], grant: Grant): NamedPolicy[] {
  return policies.map((p) => {
    if (p.name !== grant.policy) return p;
    const statements = p.document.Statement.flatMap((s, i) => {
      if (i !== grant.statement) return [s];
      const others = list(s.Action).filter((a) => a !== grant.action);
      const rest = list(s.Resource).filter((r) => r !== grant.resource);
      return [
        ...(others.length > 0 ? [{ ...s, Action: others }] : []),
        ...(rest.length > 0 ? [{ ...s, Action: grant.action, Resource: rest }] : []),
      ];
    });
    return { name: p.name, document: { ...p.document, Statement: statements } };
  });
}
