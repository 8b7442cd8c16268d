import { planShardTasks } from '../../../../lambdas/core/backup/plan-tasks';
import { InputError } from '../../../../lambdas/core/errors';

const H = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);

describe('planShardTasks: a run range × selectors → BackupShard tasks', () => {
  const base = { source: 'prod', shardLengthMs: H, force: false };

  it('plans one task per window holding every series when there are no selectors', () => {
    expect(planShardTasks({ ...base, range: { fromMs: T0, toMs: T0 + 2 * H }, selectors: [] })).toEqual([
      { source: 'prod', startMs: T0, endMs: T0 + H, selector: '', force: false },
      { source: 'prod', startMs: T0 + H, endMs: T0 + 2 * H, selector: '', force: false },
    ]);
  });

  it('plans every window once per selector, all of one selector first, and carries force', () => {
    const tasks = planShardTasks({
      ...base,
      force: true,
      range: { fromMs: T0, toMs: T0 + 2 * H },
      selectors: ['{job="a"}', '{job="b"}'],
    });
    expect(tasks.map((t) => [t.selector, t.startMs - T0, t.force])).toEqual([
      ['{job="a"}', 0, true],
      ['{job="a"}', H, true],
      ['{job="b"}', 0, true],
      ['{job="b"}', H, true],
    ]);
  });

  it('widens a range that is not aligned to whole windows', () => {
    const tasks = planShardTasks({ ...base, range: { fromMs: T0 + 1, toMs: T0 + H + 1 }, selectors: [] });
    expect(tasks.map((t) => [t.startMs - T0, t.endMs - T0])).toEqual([
      [0, H],
      [H, 2 * H],
    ]);
  });

  it.each([
    ['empty', { fromMs: T0 + H, toMs: T0 + H }],
    ['inverted (no whole window closed since the checkpoint)', { fromMs: T0 + H, toMs: T0 }],
  ])('plans nothing for an %s range', (_what, range) => {
    expect(planShardTasks({ ...base, range, selectors: ['{job="a"}'] })).toEqual([]);
  });

  it("names the caller's inputs in errors", () => {
    const plan = () =>
      planShardTasks({
        ...base,
        shardLengthMs: 7 * 60_000,
        range: { fromMs: T0, toMs: T0 + H },
        selectors: [],
        flagNames: { shardLength: 'shardLengthMs' },
      });
    expect(plan).toThrow(InputError);
    expect(plan).toThrow(/invalid shardLengthMs/);
  });
});
