/**
 * CommitBackup: CommitInput → CommitOutput. The store is the truth: the plan and the manifests
 * decide (the Map's results are discarded). Advances the checkpoint, emits the run's metrics,
 * deletes the source's leftovers older than the grace period (gc, best effort), and only then
 * fails with ShardsFailedError when a planned shard has no manifest.
 */
import middy from '@middy/core';
import { commitPlanned } from '../core/backup/commit-plan';
import { missingShardsMessage, runMetrics } from '../core/backup/commit-report';
import { InputError } from '../core/errors';
import { cleanLeftovers } from '../core/gc';
import { findSource } from '../adapters/runtime-config';
import { HANDLERS, type CommitInput, type CommitOutput } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { ShardsFailedError } from './errors';
import { readPlan } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { validateBackupShardTask, validateCommitInput } from '../schemas/tasks';

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(input: CommitInput, context: HandlerContext): Promise<CommitOutput> {
    const config = deps.config();
    const source = findSource(config, input.source);
    const store = deps.store(config);
    const tasks = await readPlan(store, input.planKey, (item) => {
      const task = validateBackupShardTask(item);
      if (task.source !== source.name)
        throw new InputError(`it is a shard of source ${task.source}, not ${source.name}`);
      return task;
    });
    const refs = tasks.map((t) => ({
      source: source.name,
      window: { startMs: t.startMs, endMs: t.endMs },
      selector: t.selector,
    }));
    const nowMs = deps.nowMs();
    const result = await commitPlanned(store, source.name, refs, nowMs);
    deps.metrics.emit({
      namespace: 'Promvault',
      dimensions: { Source: source.name },
      metrics: runMetrics(result, nowMs, input.plannedAtMs),
      timestampMs: nowMs,
    });

    // Leftovers of this source's killed runs, as after a CLI backup; reading only ambiguous manifests keeps it cheap.
    const gc = await cleanLeftovers(
      store,
      { nowMs, graceMs: config.gcGraceMs, source: source.name, readManifests: 'ambiguous' },
      (message) => context.log.warn(message),
    );
    const { missing, checkpoint } = result;
    const output: CommitOutput = {
      source: source.name,
      runId: input.runId,
      planned: refs.length,
      committed: result.committed.length,
      missing,
      checkpointMs: checkpoint?.end_ms ?? null,
      samples: result.samples,
      storedBytes: result.storedBytes,
      gcDeleted: gc?.deleted ?? null,
    };
    context.log.info('committed', {
      planned: refs.length,
      committed: output.committed,
      missing: missing.length,
      checkpointMs: output.checkpointMs,
      gcDeleted: output.gcDeleted,
    });
    if (missing.length === 0) return output;
    throw new ShardsFailedError(
      source.name,
      missing,
      missingShardsMessage({ source: source.name, runId: input.runId, planned: refs.length, missing, checkpoint }),
    );
  }

  return middy(run, timeoutGuard(HANDLERS.commitBackup, deps)).use(
    commonMiddleware(HANDLERS.commitBackup, deps, validateCommitInput, (i) => ({ source: i.source, runId: i.runId })),
  );
}

export const handler = createHandler();
