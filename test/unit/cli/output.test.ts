/** Exit codes of a command that threw: 2 only for what the user typed, 1 for the environment. */
import { exitCodeOf, RunFailure } from '../../../cli/output';
import {
  InputError,
  PermanentError,
  SourceProbeError,
  SourceUnavailableError,
  TransientError,
} from '../../../lambdas/core/errors';

describe('exitCodeOf', () => {
  it.each<[string, unknown, number]>([
    ['a bad flag', new InputError('--timeout 0 …'), 2],
    ['a source that refuses the URL or credentials', new SourceProbeError('HTTP 401'), 2],
    ['an S3 endpoint that times out', new TransientError('cannot reach S3 endpoint … (no answer within …)'), 1],
    ['a source that is down', new SourceUnavailableError('cannot reach Prometheus …'), 1],
    ['a store that cannot be written', new PermanentError('cannot write in the store directory …'), 1],
    ['a bug', new TypeError('x is undefined'), 1],
    ['bad input found once the run began', new RunFailure(new InputError('…')), 1],
  ])('%s: %d', (_what, err, code) => {
    expect(exitCodeOf(err)).toBe(code);
  });
});
