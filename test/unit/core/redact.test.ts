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

test('a SigV4 signature leaves every text, in a header or a presigned URL', () => {
  const sig = '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31';
  const r = new Redactor();
  expect(
    r.text(
      `Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}; https://h/x?X-Amz-Signature=${sig}&a=1`,
    ),
  ).toBe(
    `Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=${REDACTED}; https://h/x?X-Amz-Signature=${REDACTED}&a=1`,
  );
});
