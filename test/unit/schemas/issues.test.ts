import { z } from 'zod';
import { formatIssues, keyPath, parseOrThrow, redactUserInfo, show } from '../../../lambdas/schemas/issues';

describe('keyPath', () => {
  test.each<[PropertyKey[], string | undefined, string]>([
    [[], undefined, ''],
    [[], 'promvault', 'promvault'],
    [['sources', 0, 'shardLength'], 'promvault', 'promvault.sources[0].shardLength'],
    [['sources', 0, 'shardLength'], undefined, 'sources[0].shardLength'],
    [[0, 'a'], undefined, '[0].a'],
    [['selectors', 1], undefined, 'selectors[1]'],
  ])('%j under %s is %s', (path, root, expected) => {
    expect(keyPath(path, root)).toBe(expected);
  });
});

describe('show', () => {
  test.each<[unknown, string]>([
    [undefined, 'nothing'],
    [null, 'null'],
    [10, '10'],
    ['7h', '"7h"'],
    [{ a: 1 }, '{"a":1}'],
    ['x'.repeat(78), `"${'x'.repeat(78)}"`], // 80 characters with the quotes: shown whole
  ])('%j is shown as %s', (value, expected) => {
    expect(show(value)).toBe(expected);
  });

  test('a long value is cut and says how long it was', () => {
    const shown = show('v'.repeat(4096));
    expect(shown).toBe(`"${'v'.repeat(79)}… (4098 characters)`);
  });

  test.each([
    ['http://admin:S3cret@host:9090/api/v1/write', 'http://***@host:9090/api/v1/write'],
    ['https://token@host', 'https://***@host'],
    ['http://user:pa/ss@host', 'http://***@host'],
    ['http://user:p@ss@host/x', 'http://***@host/x'],
    ['see http://a:b@h1 and http://c:d@h2', 'see http://***@h1 and http://***@h2'],
    ['http://host:9090/api/v1/read', 'http://host:9090/api/v1/read'],
    ['ops@example.com', 'ops@example.com'],
  ])('redactUserInfo(%s) is %s', (text, expected) => {
    expect(redactUserInfo(text)).toBe(expected);
  });
});

describe('the formatter', () => {
  const schema = z.strictObject({ name: z.string(), sizes: z.array(z.number()).optional() });
  const subject = (path: readonly PropertyKey[]) => `config ${keyPath(path, 'root')}`;
  const fail = (value: unknown) => {
    try {
      parseOrThrow(schema, value, subject, (m) => new RangeError(m));
    } catch (err) {
      expect(err).toBeInstanceOf(RangeError);
      return (err as Error).message;
    }
    throw new Error('parsed');
  };

  test.each<[string, unknown, string]>([
    ['a missing key', {}, 'config root.name: is missing: expected a string'],
    ['a wrong type', { name: 5 }, 'config root.name: expected a string, got 5'],
    ['an item of a list', { name: 'a', sizes: [1, 'two'] }, 'config root.sizes[1]: expected a number, got "two"'],
    ['an unknown key', { name: 'a', nmae: 'b' }, 'config root: unknown key "nmae": check the spelling'],
    ['not an object', 'x', 'config root: expected an object ({...}), got "x"'],
  ])('%s', (_name, value, message) => {
    expect(fail(value)).toBe(message);
  });

  test('every issue gets its own line, each naming its key', () => {
    expect(fail({ name: 1, sizes: 'x' }).split('\n')).toEqual([
      'config root.name: expected a string, got 1',
      'config root.sizes: expected a list ([...]), got "x"',
    ]);
  });

  test("a schema's own wording wins over the default", () => {
    const worded = z.object({ n: z.number({ error: 'give a count' }) });
    const issues = worded.safeParse({ n: 'x' }).error!.issues;
    expect(formatIssues(issues, (p) => keyPath(p))).toBe('n: give a count');
  });

  test('a value with a password is shown without it', () => {
    const message = fail({ name: 'a', sizes: ['http://admin:S3cret@host'] });
    expect(message).toContain('http://***@host');
    expect(message).not.toContain('S3cret');
  });

  test('the parsed value comes back on success', () => {
    expect(parseOrThrow(schema, { name: 'a' }, subject, (m) => new Error(m))).toEqual({ name: 'a' });
  });
});
