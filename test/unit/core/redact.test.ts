import { REDACTED, Redactor, redactUrl } from '../../../lambdas/core/redact';

test.each([
  ['http://admin:S3cret@host:9090/api/v1/write', 'http://host:9090/api/v1/write'],
  ['remote write to https://u:p%40ss@h/x failed', 'remote write to https://h/x failed'],
  ['a password with @ in it: http://admin:p@ss@host/', 'a password with @ in it: http://host/'],
  ['"http://token@host" and http://plain/a@b', '"http://host" and http://plain/a@b'],
  ['no URL here: user@example.com', 'no URL here: user@example.com'],
])('redactUrl(%j)', (text, expected) => {
  expect(redactUrl(text)).toBe(expected);
});

test('registered secrets leave texts in every form they travel in; short values are not registered', () => {
  const r = new Redactor();
  r.addBasicAuth('admin', 'pa"ss word');
  r.add('abc');
  const base64 = Buffer.from('admin:pa"ss word').toString('base64');
  expect(r.text(`got pa"ss word, ${encodeURIComponent('pa"ss word')}, Basic ${base64}; abc`)).toBe(
    `got ${REDACTED}, ${REDACTED}, Basic ${REDACTED}; abc`,
  );
  expect(
    JSON.stringify(r.value({ e: new Error('pa"ss word'), list: ['x pa"ss word'], [`k pa"ss word`]: 1 })),
  ).not.toMatch(/pa.{0,2}ss word/);
});
