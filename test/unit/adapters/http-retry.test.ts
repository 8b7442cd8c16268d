import { isNetworkError } from '../../../lambdas/adapters/http-retry';

/** An Error with extra fields, as node:http, fetch (undici) and the AWS SDK shape theirs. */
function errorWith(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('isNetworkError: one definition for the HTTP clients and the S3 store', () => {
  it.each([
    // What node:http reports (remote write, remote read).
    ['a reset connection (node:http)', errorWith('socket hang up', { code: 'ECONNRESET' })],
    ['a refused connection (node:http)', errorWith('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED' })],
    ['our own request timeout', errorWith('no response within 150 ms', { name: 'TimeoutError' })],
    ['an aborted request', errorWith('aborted', { name: 'AbortError' })],
    // What fetch (undici) reports: the code is on the cause.
    [
      'fetch failed with a socket error on its cause',
      Object.assign(new TypeError('fetch failed'), { cause: { code: 'UND_ERR_SOCKET' } }),
    ],
    ['fetch failed without a code', new TypeError('fetch failed')],
    ['a connect timeout on the cause', errorWith('x', { cause: { code: 'UND_ERR_CONNECT_TIMEOUT' } })],
    // What the AWS SDK reports (S3 store).
    ['an unknown host (S3 endpoint typo)', errorWith('getaddrinfo ENOTFOUND s3.example', { code: 'ENOTFOUND' })],
    ['an unreachable host', errorWith('connect EHOSTUNREACH', { code: 'EHOSTUNREACH' })],
    ['an unreachable network', errorWith('connect ENETUNREACH', { code: 'ENETUNREACH' })],
    ['an aborted connection', errorWith('x', { code: 'ECONNABORTED' })],
    ["the SDK's request timeout", errorWith('x', { name: 'RequestTimeout' })],
    [
      "the SDK's rewrapped error from another realm",
      errorWith('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:4569', {}),
    ],
    [
      'an AggregateError of connection attempts (IPv4 and IPv6)',
      new AggregateError([errorWith('connect ECONNREFUSED ::1:9', { code: 'ECONNREFUSED' })], ''),
    ],
  ])('is true for %s', (_what, err) => {
    expect(isNetworkError(err)).toBe(true);
  });

  it.each([
    ['a plain error', new Error('boom')],
    [
      'an HTTP 403 from the SDK',
      errorWith('Access Denied', { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
    ],
    ['a TypeError that is not fetch', new TypeError('x is not a function')],
    ['a code in a message that is not an SDK wrapper', new Error('the docs mention ECONNREFUSED')],
    ['an AggregateError of non-network errors', new AggregateError([new Error('boom')], '')],
    ['null', null],
    ['a string', 'ECONNRESET'],
  ])('is false for %s', (_what, err) => {
    expect(isNetworkError(err)).toBe(false);
  });
});
