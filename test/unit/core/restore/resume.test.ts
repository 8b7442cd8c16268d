import { completedShards, type RestoreScope } from '../../../../lambdas/core/restore/resume';
import { InputError } from '../../../../lambdas/core/errors';

const scope: RestoreScope = {
  store: '/backups',
  from_ms: 0,
  to_ms: 3_600_000,
  match: ['{job="api"}'],
  source_names: [],
  target: 'http://t/api/v1/write',
};

describe('completedShards', () => {
  it('returns the completed shards of a report of the same restore', () => {
    const report = { ...scope, complete: false, completed_shards: [{ key: 'a', samples: 5 }] };
    expect(completedShards(report, scope, 'r.json')).toEqual([{ key: 'a', samples: 5 }]);
  });

  it.each([
    ['store', { store: '/other' }],
    ['to_ms', { to_ms: 1 }],
    ['match', { match: [] }],
    ['target', { target: 'http://elsewhere/api/v1/write' }],
  ])('refuses a report whose %s differs, naming it', (field, change) => {
    const report = { ...scope, ...change, completed_shards: [] };
    expect(() => completedShards(report, scope, 'r.json')).toThrow(InputError);
    expect(() => completedShards(report, scope, 'r.json')).toThrow(new RegExp(`its ${field} is`));
  });

  it('refuses what is no report, and a damaged list', () => {
    expect(() => completedShards({ hello: 1 }, scope, 'r.json')).toThrow(/not a promvault restore report/);
    expect(() => completedShards(null, scope, 'r.json')).toThrow(InputError);
    expect(() => completedShards({ ...scope, completed_shards: ['a'] }, scope, 'r.json')).toThrow(/damaged/);
  });
});
