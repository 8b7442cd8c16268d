/**
 * PlanBackup: BackupInput → BackupPlanOutput. Computes the run's range (checkpoint → now − lag,
 * whole windows only, or the explicit from/to), plans the shards per selector and always
 * writes them to plans/<source>/<runId>.json; small plans also travel inline.
 */
import middy from '@middy/core';
import { planRunRange } from '../core/backup/plan-run';
import { planShardTasks } from '../core/backup/plan-tasks';
import { readCheckpoint } from '../core/backup/commit';
import { findSource } from '../adapters/runtime-config';
import { HANDLERS, type BackupInput, type BackupPlanOutput, type BackupShardTask } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { backupPlanKey, putJson } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { validateBackupInput } from '../schemas/tasks';

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(input: BackupInput, context: HandlerContext): Promise<BackupPlanOutput> {
    const config = deps.config();
    const source = findSource(config, input.source);
    const store = deps.store(config);
    const nowMs = deps.nowMs();
    const checkpoint = input.from === undefined ? await readCheckpoint(store, source.name) : undefined;
    const range = planRunRange({ ...source, nowMs, checkpointMs: checkpoint?.end_ms, from: input.from, to: input.to });
    const fromMs = range.fromMs;
    const toMs = Math.max(range.fromMs, range.toMs);
    const shards: BackupShardTask[] = planShardTasks({
      source: source.name,
      range,
      shardLengthMs: source.shardLengthMs,
      selectors: source.selectors,
      force: input.force ?? false,
      flagNames: { from: 'from', to: 'to', shardLength: 'shardLengthMs' },
    });

    const runId = input.executionId ?? `${source.name}-${fromMs}-${toMs}`;
    const planKey = backupPlanKey(source.name, runId);
    await putJson(store, planKey, shards);
    const inline = shards.length <= config.inlinePlanLimit;
    context.log.info('planned', {
      runId,
      fromMs,
      toMs,
      shards: shards.length,
      checkpointMs: checkpoint?.end_ms ?? null,
    });
    return {
      source: source.name,
      runId,
      shardCount: shards.length,
      mode: inline ? 'inline' : 's3',
      shards: inline ? shards : [],
      planKey,
      fromMs,
      toMs,
      plannedAtMs: nowMs,
    };
  }

  return middy(run, timeoutGuard(HANDLERS.planBackup, deps)).use(
    commonMiddleware(HANDLERS.planBackup, deps, validateBackupInput, (i) => ({ source: i.source })),
  );
}

export const handler = createHandler();
