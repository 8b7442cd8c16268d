/** --sigv4-region / --sigv4-service: checked before any work, each problem named with its fix. */
import { resolveSigner } from '../../../cli/source';
import { InputError } from '../../../lambdas/core/errors';

const AMP = 'https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-0f1e2d3c-aaaa-bbbb-cccc-0123456789ab';

test.each([
  [{ sigv4Service: 'aps' }, 'http://prom:9090/api/v1/read', /--sigv4-service needs --sigv4-region/],
  [{ sigv4Region: 'US East' }, 'http://prom:9090/api/v1/read', /--sigv4-region "US East" is not an AWS region/],
  [{ sigv4Region: 'us-east-1', sigv4Service: 'APS!' }, 'http://p/api/v1/read', /is not a SigV4 service name/],
  [{}, `${AMP}/api/v1/remote_write`, /Amazon Managed Prometheus, which only accepts SigV4.*--sigv4-region us-west-2/],
  [
    { sigv4Region: 'us-east-1' },
    `${AMP}/api/v1/remote_write`,
    /us-east-1 does not match the workspace's region us-west-2/,
  ],
  [
    { sigv4Region: 'us-west-2' },
    'https://aps-workspaces.us-west-2.amazonaws.com/api/v1/remote_write',
    /without a workspace id/,
  ],
])('%j for %s is bad input', (flags, url, message) => {
  expect(() => resolveSigner(flags, url, {}, 'target')).toThrow(InputError);
  expect(() => resolveSigner(flags, url, {}, 'target')).toThrow(message);
});

test('SigV4 with basic auth or a bearer token is refused, naming both', () => {
  const flags = { sigv4Region: 'us-west-2' };
  expect(() =>
    resolveSigner(flags, `${AMP}/api/v1/remote_write`, { basicAuth: { username: 'u', password: 'p' } }, 'target'),
  ).toThrow(/--sigv4-region signs every request to the target, and basic auth is given for it too.*keep one/);
  expect(() => resolveSigner(flags, 'http://prom:9090/api/v1/read', { bearerToken: 'tok' }, 'source')).toThrow(
    /and a bearer token is given for it too \(--basic-auth…, --bearer-token-file or \$PROMVAULT_BEARER_TOKEN\)/,
  );
});

test('no flags for a plain Prometheus: no signer; a region: a signer', () => {
  expect(resolveSigner({}, 'http://prom:9090/api/v1/read', {}, 'source')).toBeUndefined();
  expect(resolveSigner({ sigv4Region: 'us-west-2' }, `${AMP}/api/v1/remote_write`, {}, 'target')).toBeInstanceOf(
    Function,
  );
});
