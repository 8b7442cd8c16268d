import { createLogger } from '../../../lambdas/adapters/log';
import { Redactor } from '../../../lambdas/core/redact';

test('messages, error texts and nested strings are redacted, not only fields named like secrets', () => {
  const lines: string[] = [];
  const redactor = new Redactor();
  redactor.add('tok-0123456789');
  const log = createLogger({ sink: (l) => lines.push(l), redactor });
  const err = new Error('remote write to http://admin:S3cret@host:9090/api/v1/write failed: tok-0123456789');
  log.error('restore failed for http://admin:S3cret@host:9090/api/v1/write', {
    error: err,
    message: err.message,
    nested: { list: ['Bearer tok-0123456789'] },
    password: 'S3cret',
  });
  const text = lines.join('\n');
  expect(text).not.toMatch(/S3cret|tok-0123456789/);
  expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'restore failed for http://host:9090/api/v1/write' });
});
