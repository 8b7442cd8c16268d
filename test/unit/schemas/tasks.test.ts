/** The state-machine task inputs at their boundaries; the handler tests check the messages in context. */
import { InputError } from '../../../lambdas/core/errors';
import {
  validateBackupInput,
  validateBackupShardTask,
  validateCommitInput,
  validateReportInput,
  validateRestoreInput,
  validateRestoreShardTask,
  validateThawInput,
  type Validator,
} from '../../../lambdas/schemas/tasks';
import { messageOf } from './helpers';

const PASSWORD = 'S3cret-pa55';
const shard = { source: 'prod', startMs: 0, endMs: 3_600_000 };
const restoreTask = {
  runId: 'r',
  manifestKey: 'manifests/prod/x.json',
  fromMs: 10,
  toMs: 20,
  target: 'http://vm:8428/api/v1/write',
};
const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z' };

const errorOf = (validate: Validator<unknown>, event: unknown): string => messageOf(() => validate(event), InputError);

describe('restore input: verify and verifySource', () => {
  test('verify defaults to false, verifySource to none', () => {
    expect(validateRestoreInput(range)).toEqual({ ...range, selectors: [], sources: [], verify: false });
  });

  test('both are kept when given', () => {
    const input = validateRestoreInput({ ...range, verify: true, verifySource: 'http://prom:9090/api/v1/read' });
    expect(input).toMatchObject({ verify: true, verifySource: 'http://prom:9090/api/v1/read' });
  });

  test.each<[unknown, string]>([
    [{ ...range, verify: 'yes' }, 'invalid input: field verify: expected true or false, got "yes"'],
    [
      { ...range, verifySource: 'prom:9090' },
      'invalid input: field verifySource: prom:9090 must be an http:// or https:// URL',
    ],
    [{ ...range, verifySource: 'not a url' }, 'invalid input: field verifySource: "not a url" is not a URL'],
  ])('%j is refused', (event, message) => {
    expect(errorOf(validateRestoreInput, event)).toContain(message);
  });

  test('the restore shard task carries them too', () => {
    expect(validateRestoreShardTask(restoreTask)).toMatchObject({ verify: false });
    expect(
      validateRestoreShardTask({ ...restoreTask, verify: true, verifySource: 'https://p/api/v1/read' }),
    ).toMatchObject({ verify: true, verifySource: 'https://p/api/v1/read' });
  });

  test.each([
    ['target', { ...range, target: `http://admin:${PASSWORD}@vm:8428/api/v1/write` }],
    ['verifySource', { ...range, verifySource: `http://admin:${PASSWORD}@prom:9090/api/v1/read` }],
  ])('a password in %s is refused and not echoed', (field, event) => {
    const message = errorOf(validateRestoreInput, event);
    expect(message).toContain(`field ${field}: "http://***@`);
    expect(message).not.toContain(PASSWORD);
  });
});

describe('boundaries', () => {
  // [validator, event, accepted]
  test.each<[string, Validator<unknown>, unknown, boolean]>([
    ['a one-ms shard', validateBackupShardTask, { ...shard, endMs: 1, startMs: 0 }, true],
    ['an empty shard', validateBackupShardTask, { ...shard, endMs: 0, startMs: 0 }, false],
    ['a negative start', validateBackupShardTask, { ...shard, startMs: -1 }, false],
    ['a fractional end', validateBackupShardTask, { ...shard, endMs: 1.5 }, false],
    ['the selector left out', validateBackupShardTask, shard, true],
    ['the empty selector', validateBackupShardTask, { ...shard, selector: '' }, true],
    ['a number for the selector', validateBackupShardTask, { ...shard, selector: 5 }, false],
    ['a run id of 128 characters', validateCommitInput, { source: 'p', runId: 'r'.repeat(128), planKey: 'a/b' }, true],
    ['a run id of 129 characters', validateCommitInput, { source: 'p', runId: 'r'.repeat(129), planKey: 'a/b' }, false],
    ['a run id with a slash', validateCommitInput, { source: 'p', runId: 'a/b', planKey: 'a/b' }, false],
    ['a key that climbs out', validateReportInput, { runId: 'r', planKey: 'a/../b' }, false],
    ['an absolute key', validateReportInput, { runId: 'r', planKey: '/a' }, false],
    ['a key with an empty segment', validateReportInput, { runId: 'r', planKey: 'a//b' }, false],
    ['a plain key', validateReportInput, { runId: 'r', planKey: 'restores/r/plan.json' }, true],
    ['a thaw tier in any case', validateThawInput, { runId: 'r', planKey: 'p', thawTier: 'bulk' }, true],
    ['an unknown thaw tier', validateThawInput, { runId: 'r', planKey: 'p', thawTier: 'Fast' }, false],
    ['no thaw tier', validateThawInput, { runId: 'r', planKey: 'p' }, false],
    ['a blank from', validateRestoreInput, { ...range, from: '  ' }, false],
    ['a restore window of one ms', validateRestoreShardTask, { ...restoreTask, fromMs: 10, toMs: 11 }, true],
    ['a restore window of none', validateRestoreShardTask, { ...restoreTask, fromMs: 10, toMs: 10 }, false],
    ['force as text', validateBackupInput, { source: 'prod', force: 'true' }, false],
    ['an array as input', validateBackupInput, [], false],
  ])('%s', (_name, validate, event, accepted) => {
    if (accepted) expect(() => validate(event)).not.toThrow();
    else expect(() => validate(event)).toThrow(InputError);
  });

  test('a thaw tier comes back spelt as S3 spells it', () => {
    expect(validateThawInput({ runId: 'r', planKey: 'p', thawTier: 'bulk' }).thawTier).toBe('Bulk');
  });

  test('an empty window names the end and both times', () => {
    expect(errorOf(validateBackupShardTask, { ...shard, endMs: 0 })).toBe(
      'invalid input: field endMs: expected a time after startMs 0, got 0',
    );
  });
});
