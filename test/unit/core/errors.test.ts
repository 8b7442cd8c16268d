import { sentences } from '../../../lambdas/core/errors';

describe('sentences', () => {
  it.each([
    [['a server said: "no"', 'Check --source'], 'a server said: "no". Check --source.'],
    [['the hint ends in one.', 'Check --against.'], 'the hint ends in one. Check --against.'],
    [['what failed', undefined, ' '], 'what failed.'],
    [['why?', 'fix it'], 'why? fix it.'],
  ])('%j -> %s (one period per sentence)', (parts, joined) => {
    expect(sentences(...parts)).toBe(joined);
  });
});
