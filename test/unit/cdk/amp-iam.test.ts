/**
 * Issue 16: Amazon Managed Prometheus permissions appear only with sigv4, on the workspaces the
 * URLs name: read actions for BackupShard, aps:RemoteWrite for RestoreShard, nothing elsewhere.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { buildStack, flatArn, minimalConfig } from './helpers';

const WS_A = 'ws-aaaaaaaa-1111-2222-3333-444444444444';
const WS_B = 'ws-bbbbbbbb-1111-2222-3333-444444444444';
const WS_T = 'ws-cccccccc-1111-2222-3333-444444444444';
const amp = (region: string, ws: string, path: string) =>
  `https://aps-workspaces.${region}.amazonaws.com/workspaces/${ws}${path}`;
const READ = ['aps:GetLabels', 'aps:GetMetricMetadata', 'aps:GetSeries', 'aps:QueryMetrics'];

interface Statement {
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** role logical-id prefix → aps action → resources. */
function apsGrants(template: Template): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  const policies = template.findResources('AWS::IAM::Policy');
  for (const policy of Object.values(policies)) {
    const p = policy as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } };
    for (const s of p.Properties.PolicyDocument.Statement)
      for (const action of list(s.Action).filter((a) => a.startsWith('aps:')))
        for (const role of p.Properties.Roles) {
          const name = role.Ref.replace(/Role[0-9A-F]{8}$/, '');
          const grants = (out[name] ??= {});
          grants[action] = [...(grants[action] ?? []), ...list(s.Resource).map(flatArn)].sort();
        }
  }
  return out;
}

const arn = (region: string, ws: string) => `arn:<AWS::Partition>:aps:${region}:<AWS::AccountId>:workspace/${ws}`;

test('without sigv4 no function may call Amazon Managed Prometheus', () => {
  const { template } = buildStack(minimalConfig({ restore: { targetUrl: 'http://prometheus:9090/api/v1/write' } }));
  expect(apsGrants(template)).toEqual({});
});

test('sources and the target signed with sigv4 get exactly their workspaces, each to its function', () => {
  const { template } = buildStack({
    sources: [
      {
        name: 'amp',
        mode: 'query',
        url: amp('us-east-1', WS_A, ''),
        replicas: [amp('us-east-1', WS_B, '')],
        sigv4: { region: 'us-east-1' },
      },
      { name: 'plain', remoteReadUrl: 'http://prometheus.internal:9090' },
    ],
    restore: { targetUrl: amp('eu-west-1', WS_T, '/api/v1/remote_write'), sigv4: { region: 'eu-west-1' } },
  });
  const sourceArns = [arn('us-east-1', WS_A), arn('us-east-1', WS_B)].sort();
  expect(apsGrants(template)).toEqual({
    BackupShard: Object.fromEntries(READ.map((a) => [a, sourceArns])),
    RestoreShard: { 'aps:RemoteWrite': [arn('eu-west-1', WS_T)] },
  });
  // No wildcard action or resource slips in beside them.
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'aps:RemoteWrite' })]) },
  });
});

test('a signed source that is not AMP (a SigV4 proxy) gets no AMP grant', () => {
  const { template } = buildStack({
    sources: [{ name: 'proxied', remoteReadUrl: 'https://prom-proxy.internal', sigv4: { region: 'us-east-1' } }],
  });
  expect(apsGrants(template)).toEqual({});
});
