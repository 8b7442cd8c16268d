/**
 * Issue 15: secrets reach Lambda only through Secrets Manager at run time. A stack whose source
 * and target use secrets names them in the template, and holds neither their values (no
 * `{{resolve:secretsmanager:…}}` dynamic reference, which CloudFormation would expand into a
 * function's environment) nor user info in any URL.
 */
import { buildStack } from './helpers';

test('a source and a target with secrets synthesize with the secret names only', () => {
  const { template } = buildStack({
    sources: [
      { name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090', credentialsSecretName: 'promvault/prod' },
    ],
    restore: { targetUrl: 'http://vm:8428/api/v1/write', targetSecretName: 'promvault/target' },
  });
  const text = JSON.stringify(template.toJSON());
  expect(text).toContain('promvault/prod');
  expect(text).toContain('promvault/target');
  expect(text).not.toMatch(/resolve:secretsmanager|SecretString|GenerateSecretString/);
  expect(text).not.toMatch(/[a-z][a-z0-9+.-]*:\/\/[^\s/?#"'\\]*@/i);
});
