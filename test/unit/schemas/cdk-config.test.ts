/** The cdk.json schema at its boundaries; test/unit/cdk/config.test.ts holds the messages users see most. */
import { ConfigError, parseConfig, toRuntimeConfig } from '../../../cdk/lib/config';
import { parseRuntimeConfig } from '../../../lambdas/schemas/runtime-config';
import { messageOf } from './helpers';

const PASSWORD = 'S3cret-pa55';
const source = (extra: Record<string, unknown> = {}) => ({
  name: 'prod',
  remoteReadUrl: 'http://prometheus.internal:9090',
  ...extra,
});
const config = (extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  sources: [source(extra)],
  ...top,
});
const errorOf = (raw: unknown): string => messageOf(() => parseConfig(raw), ConfigError);

describe('replicas: replicaMode and replicaLabels', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['one URL', {}, 'failover'],
    ['a primary and a replica', { replicas: ['http://b:9090'] }, 'merge'],
    ['three URLs', { replicas: ['http://b:9090', 'http://c:9090'] }, 'merge'],
    ['failover asked for', { replicas: ['http://b:9090'], replicaMode: 'failover' }, 'failover'],
    ['any letter case', { replicas: ['http://b:9090'], replicaMode: 'Failover' }, 'failover'],
    ['merge with one URL', { replicaMode: 'merge' }, 'merge'],
  ])('%s reads as %s', (_name, extra, mode) => {
    expect(parseConfig(config(extra)).sources[0]!.replicaMode).toBe(mode);
  });

  test.each<[string[]]>([[[]], [['replica']], [['prometheus_replica', '__replica__', '_a1']]])(
    'replicaLabels %j are kept',
    (labels) => {
      expect(parseConfig(config({ replicaLabels: labels })).sources[0]!.replicaLabels).toEqual(labels);
    },
  );

  test.each<[string, unknown, RegExp]>([
    ['an unknown mode', { replicaMode: 'both' }, /sources\[0\]\.replicaMode: "both" is not one of merge, failover/],
    ['a mode that is not text', { replicaMode: 2 }, /sources\[0\]\.replicaMode: expected a string, got 2/],
    ['labels that are not a list', { replicaLabels: 'replica' }, /sources\[0\]\.replicaLabels: expected a list/],
    [
      'a label starting with a digit',
      { replicaLabels: ['ok', '1replica'] },
      /replicaLabels\[1\]: "1replica" is not a label name/,
    ],
    [
      'a label with a dash',
      { replicaLabels: ['prom-replica'] },
      /replicaLabels\[0\]: "prom-replica" is not a label name: use letters, digits and _/,
    ],
    ['the empty label', { replicaLabels: [''] }, /replicaLabels\[0\]: "" is not a label name/],
    [
      'the metric name',
      { replicaLabels: ['__name__'] },
      /replicaLabels\[0\]: "__name__" is the metric name, not a replica label/,
    ],
  ])('refuses %s', (_name, extra, message) => {
    expect(errorOf(config(extra as Record<string, unknown>))).toMatch(message);
  });

  test('the runtime config carries them, defaults left out, and reads them back', () => {
    const parsed = parseConfig({
      sources: [
        source(),
        source({ name: 'ha', replicas: ['http://b:9090'], replicaLabels: ['replica'] }),
        source({ name: 'fo', replicas: ['http://b:9090'], replicaMode: 'failover' }),
      ],
    });
    const runtime = toRuntimeConfig(parsed, 'bucket');
    expect(runtime.sources.map((s) => [s.replicaMode, s.replicaLabels])).toEqual([
      [undefined, undefined],
      [undefined, ['replica']],
      ['failover', undefined],
    ]);
    expect(parseRuntimeConfig(JSON.stringify(runtime)).sources.map((s) => [s.replicaMode, s.replicaLabels])).toEqual([
      ['failover', []],
      ['merge', ['replica']],
      ['failover', []],
    ]);
  });
});

describe('a URL with user info is refused, and the password is never echoed', () => {
  test.each<[string, Record<string, unknown>, Record<string, unknown>, string, string]>([
    [
      'remoteReadUrl',
      { remoteReadUrl: `http://admin:${PASSWORD}@prom:9090` },
      {},
      'sources[0].remoteReadUrl',
      'credentialsSecretName',
    ],
    [
      'a replica',
      { replicas: ['http://b:9090', `https://admin:${PASSWORD}@prom-b`] },
      {},
      'sources[0].replicas[1]',
      'credentialsSecretName',
    ],
    [
      'a user name alone',
      { remoteReadUrl: `http://${PASSWORD}@prom:9090` },
      {},
      'sources[0].remoteReadUrl',
      'credentialsSecretName',
    ],
    [
      'an unparsable URL',
      { remoteReadUrl: `http://admin:${PASSWORD}/x@prom` },
      {},
      'sources[0].remoteReadUrl',
      'credentialsSecretName',
    ],
    [
      'restore.targetUrl',
      {},
      { restore: { targetUrl: `http://admin:${PASSWORD}@vm:8428/api/v1/write` } },
      'restore.targetUrl',
      'targetSecretName',
    ],
  ])('in %s', (_name, extra, top, key, secretKey) => {
    const message = errorOf(config(extra, top));
    expect(message).toContain(`cdk.json context promvault.${key}: `);
    expect(message).toContain('***@');
    expect(message).toContain(`use ${secretKey} (a Secrets Manager secret)`);
    expect(message).not.toContain(PASSWORD);
  });
});

describe('boundaries', () => {
  // [what, config, accepted]
  test.each<[string, Record<string, unknown>, boolean]>([
    ['maxConcurrency 1', config({ maxConcurrency: 1 }), true],
    ['maxConcurrency 0', config({ maxConcurrency: 0 }), false],
    ['maxConcurrency 9', config({ maxConcurrency: 9 }), true],
    ['maxConcurrency 1.5', config({ maxConcurrency: 1.5 }), false],
    ['inlinePlanLimit 400', config({}, { inlinePlanLimit: 400 }), true],
    ['inlinePlanLimit 401', config({}, { inlinePlanLimit: 401 }), false],
    ['shardLength 1m', config({ shardLength: '1m', lag: '0s', schedule: 'rate(1 minute)' }), true],
    ['shardLength 30s', config({ shardLength: '30s' }), false],
    ['shardLength 24h', config({ shardLength: '24h', lag: '1m' }), true],
    ['shardLength 25h', config({ shardLength: '25h' }), false],
    [
      'schedulePeriod 1m with cron',
      config({ schedule: 'cron(* * * * ? *)', schedulePeriod: '1m', shardLength: '1m', lag: '0s' }),
      true,
    ],
    [
      'schedulePeriod 59s with cron',
      config({ schedule: 'cron(* * * * ? *)', schedulePeriod: '59s', shardLength: '1m', lag: '0s' }),
      false,
    ],
    ['standardIaDays 30', config({}, { bucket: { transitions: { standardIaDays: 30 } } }), true],
    ['standardIaDays 29', config({}, { bucket: { transitions: { standardIaDays: 29 } } }), false],
    ['standardIaDays false', config({}, { bucket: { transitions: { standardIaDays: false } } }), true],
    [
      'glacierIrDays exactly 30 after Standard-IA',
      config({}, { bucket: { transitions: { glacierIrDays: 60 } } }),
      true,
    ],
    ['glacierIrDays 29 after Standard-IA', config({}, { bucket: { transitions: { glacierIrDays: 59 } } }), false],
    ['expirationDays one after the archive tier', config({}, { bucket: { expirationDays: 181 } }), true],
    ['expirationDays on the archive day', config({}, { bucket: { expirationDays: 180 } }), false],
    [
      'objectLock days equal to expiry',
      config({}, { bucket: { objectLock: { mode: 'GOVERNANCE', days: 365 } } }),
      true,
    ],
    ['objectLock days over expiry', config({}, { bucket: { objectLock: { mode: 'GOVERNANCE', days: 366 } } }), false],
    ['objectLock "off"', config({}, { bucket: { objectLock: 'OFF' } }), true],
    ['pollInterval 10s', config({}, { restore: { pollInterval: '10s' } }), true],
    ['pollInterval 9s', config({}, { restore: { pollInterval: '9s' } }), false],
    ['pollInterval 6h', config({}, { restore: { pollInterval: '6h' } }), true],
    ['pollInterval 6h1s', config({}, { restore: { pollInterval: '6h1s' } }), false],
    ['function timeout 1s', config({}, { functions: { report: { timeout: '1s' } } }), true],
    ['function timeout 999ms', config({}, { functions: { report: { timeout: '999ms' } } }), false],
    ['function memory 10240', config({}, { functions: { report: { memoryMb: 10240 } } }), true],
    ['function memory 10241', config({}, { functions: { report: { memoryMb: 10241 } } }), false],
    ['an unknown function role', config({}, { functions: { reporter: {} } }), false],
    ['null for an optional key', config({ credentialsSecretName: null }, { bucket: { bucketName: null } }), true],
    ['a source name of 63 characters', config({ name: 'a'.repeat(63) }), true],
    ['a source name of 64 characters', config({ name: 'a'.repeat(64) }), false],
  ])('%s', (_name, raw, accepted) => {
    if (accepted) expect(() => parseConfig(raw)).not.toThrow();
    else expect(() => parseConfig(raw)).toThrow(ConfigError);
  });

  test('every problem is reported at once, each on its own line with its key', () => {
    const lines = errorOf(config({ maxConcurrency: 0, lag: 'soon' }, { inlinePlanLimit: 0 })).split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^cdk\.json context promvault\.sources\[0\]\.lag: "soon": use a Prometheus duration/),
      'cdk.json context promvault.sources[0].maxConcurrency: expected a whole number from 1 to 9, got 0',
      'cdk.json context promvault.inlinePlanLimit: expected a whole number from 1 to 400, got 0',
    ]);
  });
});

describe('mode: federate', () => {
  const runtimeOf = (extra: Record<string, unknown>) =>
    parseRuntimeConfig(
      JSON.stringify(
        toRuntimeConfig(parseConfig({ sources: [source(), { name: 'fed', mode: 'federate', ...extra }] }), 'b'),
      ),
    );

  test('is accepted with url and interval, and goes to federateSources, not to the backup sources', () => {
    const runtime = runtimeOf({ url: 'http://p:9090', interval: '5s', selectors: ['up'] });
    expect(runtime.sources.map((s) => s.name)).toEqual(['prod']);
    expect(runtime.federateSources).toEqual([
      { name: 'fed', url: 'http://p:9090', intervalMs: 5000, selectors: ['{__name__="up"}'], shardLengthMs: 3_600_000 },
    ]);
  });

  test('captures every 15s by default, scheduled every minute, with no staleness limit from the shard length', () => {
    const c = parseConfig({ sources: [{ name: 'fed', mode: 'federate', url: 'http://p:9090', shardLength: '1d' }] });
    expect(c.sources[0]).toMatchObject({ mode: 'federate', intervalMs: 15_000, schedule: 'rate(1 minute)' });
    expect(toRuntimeConfig(c, 'b').sources).toEqual([]);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'an interval under 1s',
      { url: 'http://p', interval: '500ms' },
      /sources\[1\]\.interval: 500ms must be between 1s and 1m/,
    ],
    [
      'an interval over a minute',
      { url: 'http://p', interval: '2m' },
      /sources\[1\]\.interval: 2m must be between 1s and 1m/,
    ],
    ['an interval that is no duration', { url: 'http://p', interval: 'often' }, /sources\[1\]\.interval: /],
    ['no url', {}, /sources\[1\]\.url: is missing: give the Prometheus base URL that serves \/federate/],
    [
      'a remote-read url',
      { url: 'http://p/api/v1/read' },
      /sources\[1\]\.url: .* is a remote-read URL, but "mode" is "federate"/,
    ],
    ['remoteReadUrl', { remoteReadUrl: 'http://p' }, /sources\[1\]\.remoteReadUrl: is not for "mode": "federate"/],
    ['replicas', { url: 'http://p', replicas: ['http://q'] }, /sources\[1\]\.replicas: is not for "mode": "federate"/],
    [
      'a schedule',
      { url: 'http://p', schedule: 'rate(5 minutes)' },
      /sources\[1\]\.schedule: is not for "mode": "federate"/,
    ],
    [
      'sigv4 (a /federate request is never signed)',
      { url: 'http://p', sigv4: { region: 'eu-west-1' } },
      /sources\[1\]\.sigv4: is not for "mode": "federate"/,
    ],
  ])('refuses %s, naming the key', (_name, extra, message) => {
    expect(errorOf({ sources: [source(), { name: 'fed', mode: 'federate', ...extra }] })).toMatch(message);
  });

  test('refuses interval outside federate mode', () => {
    expect(errorOf(config({ interval: '15s' }))).toMatch(/sources\[0\]\.interval: is for "mode": "federate" only/);
  });

  test('refuses a federate source named like a backup source in the runtime config', () => {
    const runtime = {
      bucket: 'b',
      sources: [
        {
          name: 'x',
          remoteReadUrls: ['http://a/api/v1/read'],
          shardLengthMs: 3_600_000,
          lagMs: 0,
          initialLookbackMs: 1,
        },
      ],
      federateSources: [{ name: 'x', url: 'http://a', intervalMs: 15_000, shardLengthMs: 3_600_000 }],
    };
    expect(() => parseRuntimeConfig(JSON.stringify(runtime))).toThrow(/federateSources\[0\]\.name: x is used twice/);
  });
});

describe('mode: remote-read or query', () => {
  const base = { name: 'q' };
  const runtimeOf = (extra: Record<string, unknown>) =>
    parseRuntimeConfig(JSON.stringify(toRuntimeConfig(parseConfig({ sources: [{ ...base, ...extra }] }), 'b')))
      .sources[0]!;

  test('remote-read is the default; url is the base URL and remoteReadUrl keeps working', () => {
    expect(runtimeOf({ url: 'http://p:9090' })).toMatchObject({
      mode: 'remote-read',
      remoteReadUrls: ['http://p:9090/api/v1/read'],
    });
    expect(runtimeOf({ remoteReadUrl: 'http://p:9090' })).toMatchObject({
      mode: 'remote-read',
      remoteReadUrls: ['http://p:9090/api/v1/read'],
    });
  });

  test('query mode reads the query API base URLs, replicas and budget included', () => {
    const s = runtimeOf({
      mode: 'query',
      url: 'http://mimir:8080/prometheus',
      replicas: ['http://mimir-b:8080/prometheus'],
      maxSamplesPerQuery: 200_000,
    });
    expect(s).toMatchObject({
      mode: 'query',
      queryUrls: ['http://mimir:8080/prometheus', 'http://mimir-b:8080/prometheus'],
      maxSamplesPerQuery: 200_000,
    });
    expect(s.remoteReadUrls).toBeUndefined();
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'remoteReadUrl in query mode',
      { mode: 'query', remoteReadUrl: 'http://t:9090' },
      /sources\[0\]\.remoteReadUrl: is for remote read, but "mode" is "query": give "url", the base URL of the Prometheus query API/,
    ],
    [
      'a remote-read URL as the query URL',
      { mode: 'query', url: 'http://t:9090/api/v1/read' },
      /sources\[0\]\.url: http:\/\/t:9090\/api\/v1\/read is a remote-read URL, but "mode" is "query"/,
    ],
    [
      'a remote-read URL as a query replica',
      { mode: 'query', url: 'http://t:9090', replicas: ['http://u:9090/api/v1/read/'] },
      /sources\[0\]\.replicas: http:\/\/u:9090\/api\/v1\/read\/ is a remote-read URL/,
    ],
    [
      'both url and remoteReadUrl',
      { url: 'http://t:9090', remoteReadUrl: 'http://t:9090' },
      /sources\[0\]\.url: and remoteReadUrl are both given: keep one/,
    ],
    [
      'no URL in query mode',
      { mode: 'query' },
      /sources\[0\]\.url: is missing: give the base URL of the Prometheus query API/,
    ],
    ['no URL', {}, /sources\[0\]\.remoteReadUrl: is missing: give the Prometheus base URL/],
    [
      'a budget in remote-read mode',
      { url: 'http://t:9090', maxSamplesPerQuery: 5000 },
      /sources\[0\]\.maxSamplesPerQuery: is for "mode": "query" only/,
    ],
    [
      'a tiny budget',
      { mode: 'query', url: 'http://t', maxSamplesPerQuery: 10 },
      /maxSamplesPerQuery: expected a whole number from 1000/,
    ],
    [
      'an unknown mode',
      { mode: 'scrape', url: 'http://t' },
      /sources\[0\]\.mode: "scrape" is not one of remote-read, query, federate/,
    ],
  ])('refuses %s', (_name, extra, message) => {
    expect(errorOf({ sources: [{ ...base, ...extra }] })).toMatch(message);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'query mode without queryUrls',
      { mode: 'query', remoteReadUrls: ['http://a/api/v1/read'] },
      /sources\[0\]\.queryUrls: is missing/,
    ],
    [
      'queryUrls in remote-read mode',
      { remoteReadUrls: ['http://a/api/v1/read'], queryUrls: ['http://a'] },
      /sources\[0\]\.queryUrls: is not for mode remote-read/,
    ],
    [
      'a budget in remote-read mode',
      { remoteReadUrls: ['http://a/api/v1/read'], maxSamplesPerQuery: 5000 },
      /maxSamplesPerQuery: is for mode query only/,
    ],
  ])('PROMVAULT_CONFIG refuses %s', (_name, source, message) => {
    const doc = {
      bucket: 'b',
      sources: [{ name: 'q', shardLengthMs: 3_600_000, lagMs: 0, initialLookbackMs: 1, ...source }],
    };
    expect(() => parseRuntimeConfig(JSON.stringify(doc))).toThrow(message);
  });
});

describe('sigv4 (Amazon Managed Prometheus)', () => {
  const WS = 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01';
  const amp = (extra: Record<string, unknown> = {}) => ({ remoteReadUrl: `${WS}/api/v1/read`, ...extra });

  test('a source and the restore target carry sigv4 into the runtime config, service aps by default', () => {
    const parsed = parseConfig(
      config(amp({ sigv4: { region: 'us-east-1' } }), {
        restore: { targetUrl: `${WS}/api/v1/remote_write`, sigv4: { region: 'us-east-1', service: 'aps' } },
      }),
    );
    const runtime = parseRuntimeConfig(JSON.stringify(toRuntimeConfig(parsed, 'bucket')));
    expect(runtime.sources[0]!.sigv4).toEqual({ region: 'us-east-1', service: 'aps' });
    expect(runtime.restore.sigv4).toEqual({ region: 'us-east-1', service: 'aps' });
    expect(parseRuntimeConfig(JSON.stringify(toRuntimeConfig(parseConfig(config()), 'b'))).sources[0]!.sigv4).toBe(
      undefined,
    );
  });

  test.each<[string, unknown, RegExp]>([
    [
      'an AMP URL without sigv4',
      config(amp()),
      /remoteReadUrl: .*only accepts SigV4-signed requests: set sigv4\.region us-east-1/,
    ],
    [
      'an AMP URL without a workspace id',
      config({
        remoteReadUrl: 'https://aps-workspaces.us-east-1.amazonaws.com/api/v1/read',
        sigv4: { region: 'us-east-1' },
      }),
      /remoteReadUrl: .*without a workspace id/,
    ],
    [
      'another region than the workspace',
      config(amp({ sigv4: { region: 'eu-west-1' } })),
      /sigv4\.region eu-west-1 does not match the workspace's region us-east-1/,
    ],
    [
      'a region that is none',
      config({ sigv4: { region: 'Frankfurt' } }),
      /sigv4\.region: "Frankfurt" is not valid: use an AWS region name/,
    ],
    ['an unknown key', config({ sigv4: { region: 'us-east-1', role: 'x' } }), /sigv4: unknown key "role"/],
    [
      'restore.sigv4 without a targetUrl',
      config({}, { restore: { sigv4: { region: 'us-east-1' } } }),
      /restore\.sigv4: needs targetUrl/,
    ],
    [
      'an AMP target without sigv4',
      config({}, { restore: { targetUrl: `${WS}/api/v1/remote_write` } }),
      /restore\.targetUrl: .*set sigv4\.region us-east-1/,
    ],
  ])('refuses %s', (_name, raw, message) => {
    expect(errorOf(raw)).toMatch(message);
  });
});
