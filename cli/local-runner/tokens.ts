/**
 * CloudFormation tokens → plain values. A synthesized state machine definition is an Fn::Join of
 * ASL text and intrinsics (function ARNs, the bucket name, the partition); locally they resolve
 * to stable placeholders: functions get `arn:aws:lambda:<region>:<account>:function:<logicalId>`,
 * so a Task's Resource still says which function of the template it invokes.
 */
import { InputError } from '../../lambdas/core/errors';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown }>;
}

export interface ResolveOptions {
  readonly partition?: string;
  readonly region?: string;
  readonly accountId?: string;
  readonly stackName?: string;
  /** Values for `Ref` of given logical IDs (e.g. the archive bucket → the local bucket name). */
  readonly refs?: Readonly<Record<string, string>>;
}

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

const FUNCTION_ARN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)$/;

/** A template construct the local runner cannot evaluate; the message names it. */
export class UnsupportedTokenError extends InputError {}

export class TokenResolver {
  private readonly partition: string;
  private readonly region: string;
  private readonly account: string;

  constructor(
    readonly template: CfnTemplate,
    private readonly options: ResolveOptions = {},
  ) {
    this.partition = options.partition ?? 'aws';
    this.region = options.region ?? LOCAL_REGION;
    this.account = options.accountId ?? LOCAL_ACCOUNT;
  }

  /** Resolves every intrinsic in `value` (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select). */
  resolve(value: unknown): Json {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value as Json;
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (typeof value !== 'object') throw new UnsupportedTokenError(`cannot resolve ${String(value)} locally`);
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::')))
      return this.intrinsic(keys[0]!, obj[keys[0]!]);
    const out: Record<string, Json> = {};
    for (const k of keys) out[k] = this.resolve(obj[k]);
    return out;
  }

  /** resolve(), and the result must be a string. */
  resolveString(value: unknown, what: string): string {
    const v = this.resolve(value);
    if (typeof v !== 'string')
      throw new UnsupportedTokenError(`${what} resolved to ${JSON.stringify(v)}, not a string`);
    return v;
  }

  private intrinsic(name: string, arg: unknown): Json {
    switch (name) {
      case 'Ref':
        return this.ref(String(arg));
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? arg.map(String) : String(arg).split(/\.(.*)/s);
        return this.getAtt(id!, attr ?? '');
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown];
        const list = this.resolve(parts);
        if (!Array.isArray(list)) throw new UnsupportedTokenError('Fn::Join needs a list');
        return list.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(sep);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const items = this.resolve(list);
        const i = Number(this.resolve(index));
        if (!Array.isArray(items) || !(i in items))
          throw new UnsupportedTokenError(`Fn::Select index ${i} is out of range`);
        return items[i]!;
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        return text.replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, ref: string) => {
          if (bang) return `\${${ref}}`;
          if (vars[ref] !== undefined) return this.resolveString(vars[ref], `Fn::Sub variable ${ref}`);
          const dot = ref.indexOf('.');
          return dot < 0 ? this.ref(ref) : String(this.getAtt(ref.slice(0, dot), ref.slice(dot + 1)));
        });
      }
      default:
        throw new UnsupportedTokenError(`the local runner cannot resolve ${name}`);
    }
  }

  private ref(id: string): string {
    switch (id) {
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.account;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.options.stackName ?? 'Promvault';
    }
    const given = this.options.refs?.[id];
    if (given !== undefined) return given;
    const resource = this.resourceOf(id);
    if (resource.Type === 'AWS::StepFunctions::StateMachine')
      return `arn:${this.partition}:states:${this.region}:${this.account}:stateMachine:${id}`;
    return id;
  }

  private getAtt(id: string, attr: string): string {
    const resource = this.resourceOf(id);
    if (resource.Type === 'AWS::Lambda::Function' && attr === 'Arn')
      return `arn:${this.partition}:lambda:${this.region}:${this.account}:function:${id}`;
    if (resource.Type === 'AWS::S3::Bucket' && attr === 'Arn') return `arn:${this.partition}:s3:::${this.ref(id)}`;
    // ARNs of the kinds IAM policies name, so a policy resolves to what a request names (test/unit/cdk/iam.test.ts).
    const where = `${this.partition}:%s:${this.region}:${this.account}`;
    if (attr === 'Arn') {
      if (resource.Type === 'AWS::KMS::Key') return `arn:${where.replace('%s', 'kms')}:key/${id}`;
      if (resource.Type === 'AWS::Logs::LogGroup') return `arn:${where.replace('%s', 'logs')}:log-group:${id}:*`;
      if (resource.Type === 'AWS::IAM::Role') return `arn:${this.partition}:iam::${this.account}:role/${id}`;
    }
    return `${id}.${attr}`;
  }

  private resourceOf(id: string): CfnResource {
    const resource = this.template.Resources[id];
    if (resource === undefined) throw new UnsupportedTokenError(`the template has no resource ${id}`);
    return resource;
  }
}

/** The logical ID of the Lambda function a resolved Task Resource invokes, if it is one. */
export function functionIdOfArn(resource: string): string | undefined {
  return FUNCTION_ARN.exec(resource)?.[1];
}

/** The logical ID an output refers to (`{"Ref": id}`), e.g. BackupStateMachineArn → the state machine. */
export function logicalIdOfOutput(template: CfnTemplate, output: string): string | undefined {
  const value = template.Outputs?.[output]?.Value as { Ref?: unknown } | undefined;
  return typeof value?.Ref === 'string' ? value.Ref : undefined;
}

/** The ASL of a state machine resource with every token resolved. */
export function stateMachineDefinition(resolver: TokenResolver, logicalId: string): { [key: string]: Json } {
  const resource = resolver.template.Resources[logicalId];
  if (resource?.Type !== 'AWS::StepFunctions::StateMachine')
    throw new UnsupportedTokenError(`${logicalId} is not a state machine of the template`);
  const props = resource.Properties ?? {};
  let text: string;
  if (props.Definition !== undefined) text = JSON.stringify(resolver.resolve(props.Definition));
  else text = resolver.resolveString(props.DefinitionString, `${logicalId}.DefinitionString`);
  const subs = props.DefinitionSubstitutions as Record<string, unknown> | undefined;
  if (subs !== undefined) {
    text = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, key: string) =>
      subs[key] === undefined ? m : resolver.resolveString(subs[key], `DefinitionSubstitutions.${key}`),
    );
  }
  const parsed = JSON.parse(text) as Json;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UnsupportedTokenError(`${logicalId}'s definition is not a JSON object`);
  return parsed;
}

export interface FunctionInfo {
  readonly logicalId: string;
  readonly timeoutSeconds: number;
  readonly description?: string;
  /** Environment variables as the function would see them. */
  readonly environment: Readonly<Record<string, string>>;
}

/** What the template says about a Lambda function: its timeout (default 3 s, as Lambda's) and environment. */
export function functionInfo(resolver: TokenResolver, logicalId: string): FunctionInfo {
  const resource = resolver.template.Resources[logicalId];
  if (resource?.Type !== 'AWS::Lambda::Function')
    throw new UnsupportedTokenError(`${logicalId} is not a Lambda function of the template`);
  const props = resource.Properties ?? {};
  const vars = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) environment[k] = resolver.resolveString(v, `${logicalId} ${k}`);
  const description =
    props.Description === undefined ? undefined : resolver.resolveString(props.Description, 'Description');
  return {
    logicalId,
    timeoutSeconds: typeof props.Timeout === 'number' ? props.Timeout : 3,
    environment,
    ...(description !== undefined ? { description } : {}),
  };
}
