/** The local runner's input (`promvault run backup|restore`) becomes the state machine's input. */
import { parseConfig } from '../../../../cdk/lib/config';
import { InputError } from '../../../../lambdas/core/errors';
import { backupInput, restoreInput } from '../../../../cli/local-runner/inputs';
import { messageOf } from '../../schemas/helpers';

const NOW = Date.UTC(2026, 0, 1, 12);
const config = parseConfig({ sources: [{ name: 'prod', remoteReadUrl: 'http://prom:9090' }] });
const range = { from: 'now-1h', to: 'now' };

const errorOf = (run: () => unknown): string => messageOf(run, InputError);

describe('restore', () => {
  test('times become RFC3339; what was not asked for is left out', () => {
    expect(restoreInput({ ...range, target: 'http://vm:8428/api/v1/write' }, config, NOW)).toEqual({
      from: '2026-01-01T11:00:00Z',
      to: '2026-01-01T12:00:00Z',
      target: 'http://vm:8428/api/v1/write',
    });
  });

  test('verify and verifySource reach the execution input', () => {
    const input = restoreInput(
      { ...range, target: 'http://vm/api/v1/write', verify: true, verifySource: 'http://prom:9090/api/v1/read' },
      config,
      NOW,
    );
    expect(input).toMatchObject({ verify: true, verifySource: 'http://prom:9090/api/v1/read' });
    expect(restoreInput({ ...range, target: 'http://vm/api/v1/write', verify: false }, config, NOW)).not.toHaveProperty(
      'verify',
    );
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a bad selector', { match: ['up', '{job='] }, /^--match: invalid selector "\{job="/],
    ['a target that is not http', { target: 'ftp://x' }, /^--target: ftp:\/\/x must be an http:\/\/ or https:\/\/ URL/],
    ['a bad verify source', { target: 'http://vm/w', verifySource: 'prom' }, /^--verify-source: "prom" is not a URL/],
    [
      'a bad source name',
      { target: 'http://vm/w', sourceNames: ['a/b'] },
      /^--source-name: source name "a\/b" is not usable/,
    ],
    [
      'a thaw tier',
      { target: 'http://vm/w', thawTier: 'Fast' },
      /^--thaw-tier: "Fast" is not one of Standard, Bulk, Expedited/,
    ],
    ['a bad time', { from: 'yesterday', target: 'http://vm/w' }, /^--from: "yesterday": use an RFC3339 time/],
    ['a backwards range', { from: 'now', to: 'now-1h', target: 'http://vm/w' }, /^--from: \S+ is not before --to /],
  ])('refuses %s naming the flag', (_name, extra, message) => {
    expect(errorOf(() => restoreInput({ ...range, ...extra } as never, config, NOW))).toMatch(message);
  });

  test('a password in --target is refused and not echoed', () => {
    const message = errorOf(() =>
      restoreInput({ ...range, target: 'http://admin:S3cret@vm/api/v1/write' }, config, NOW),
    );
    expect(message).toMatch(/^--target: "http:\/\/\*\*\*@vm\/api\/v1\/write" has a user name or password/);
    expect(message).not.toContain('S3cret');
  });
});

describe('backup', () => {
  test('force only when asked', () => {
    expect(backupInput({ sourceName: 'prod', from: 0, to: 3_600_000 }, config, NOW)).toEqual({
      source: 'prod',
      from: '1970-01-01T00:00:00Z',
      to: '1970-01-01T01:00:00Z',
    });
    expect(backupInput({ sourceName: 'prod', force: true }, config, NOW)).toEqual({ source: 'prod', force: true });
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a negative time in ms', { from: -1 }, /^--from: -1 is not a time in ms/],
    [
      'an unconfigured source',
      { sourceName: 'dev' },
      /^--source-name dev is not a configured source; configured: prod/,
    ],
  ])('refuses %s', (_name, extra, message) => {
    expect(errorOf(() => backupInput({ sourceName: 'prod', ...extra } as never, config, NOW))).toMatch(message);
  });
});
