/** PROMVAULT_CONFIG at its boundaries; test/unit/handlers/config-secrets.test.ts checks it in a handler. */
import { InputError } from '../../../lambdas/core/errors';
import { parseRuntimeConfig } from '../../../lambdas/schemas/runtime-config';

const source = {
  name: 'prod',
  remoteReadUrls: ['http://a:9090/api/v1/read'],
  shardLengthMs: 3_600_000,
  lagMs: 0,
  initialLookbackMs: 1,
};
const text = (extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
  JSON.stringify({ bucket: 'b', sources: [{ ...source, ...extra }], ...top });

test('defaults fill what the JSON leaves out', () => {
  expect(parseRuntimeConfig(text())).toEqual({
    bucket: 'b',
    prefix: '',
    sources: [{ ...source, mode: 'remote-read', replicaMode: 'failover', replicaLabels: [], selectors: [] }],
    federateSources: [],
    restore: { concurrency: 4, batchSamples: 5000, thawTier: 'Bulk', thawDays: 7 },
    inlinePlanLimit: 500,
    gcGraceMs: 3_600_000,
  });
});

test.each<[string, Record<string, unknown>, unknown]>([
  ['one URL', {}, 'failover'],
  ['two URLs', { remoteReadUrls: ['http://a', 'http://b'] }, 'merge'],
  ['two URLs, failover', { remoteReadUrls: ['http://a', 'http://b'], replicaMode: 'failover' }, 'failover'],
])('replicaMode with %s is %s', (_name, extra, mode) => {
  expect(parseRuntimeConfig(text(extra)).sources[0]!.replicaMode).toBe(mode);
});

test('selectors become canonical and the prefix loses its slashes', () => {
  const config = parseRuntimeConfig(text({ selectors: ['{job="a", __name__="up"}'] }, { prefix: '/team//pv/' }));
  expect(config.sources[0]!.selectors).toEqual(['{__name__="up",job="a"}']);
  expect(config.prefix).toBe('team/pv');
});

test.each<[string, string, boolean]>([
  ['lagMs 0', text({ lagMs: 0 }), true],
  ['lagMs -1', text({ lagMs: -1 }), false],
  ['initialLookbackMs 0', text({ initialLookbackMs: 0 }), false],
  ['no URL', text({ remoteReadUrls: [] }), false],
  ['a URL with a password', text({ remoteReadUrls: ['http://u:pw@a'] }), false],
  ['a replica label', text({ replicaLabels: ['replica'] }), true],
  ['a bad replica label', text({ replicaLabels: ['re-plica'] }), false],
  ['an unknown replica mode', text({ replicaMode: 'both' }), false],
  ['inlinePlanLimit 0', text({}, { inlinePlanLimit: 0 }), true],
  ['inlinePlanLimit 10001', text({}, { inlinePlanLimit: 10_001 }), false],
  ['concurrency 64', text({}, { restore: { concurrency: 64 } }), true],
  ['concurrency 65', text({}, { restore: { concurrency: 65 } }), false],
  ['an empty secret name', text({ credentialsSecretName: '' }), false],
  ['an empty bucket', text({}, { bucket: '' }), false],
  ['an array', '[]', false],
])('%s', (_name, json, accepted) => {
  if (accepted) expect(() => parseRuntimeConfig(json)).not.toThrow();
  else expect(() => parseRuntimeConfig(json)).toThrow(InputError);
});

test('a password in a URL is not echoed', () => {
  expect(() => parseRuntimeConfig(text({ remoteReadUrls: ['http://u:S3cret@a'] }))).toThrow(
    /^invalid PROMVAULT_CONFIG: sources\[0\]\.remoteReadUrls\[0\]: "http:\/\/\*\*\*@a" has a user name or password/,
  );
  expect(() => parseRuntimeConfig(text({ remoteReadUrls: ['http://u:S3cret@a'] }))).not.toThrow(/S3cret/);
});
