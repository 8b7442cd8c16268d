/**
 * CommitBackup: CommitInput → CommitOutput. The store is the truth: the plan and the manifests
 * decide (the Map's results are discarded). Advances the checkpoint, emits the run's metrics,
 * and only then fails with ShardsFailedError when a planned shard has no manifest.
 */
import middy from '@middy/core';
import { commitPlanned, type PlannedCommit } from '../core/backup/commit-plan';
import { InputError } from '../core/errors';
import { formatIso } from '../core/time';
import { findSource } from '../adapters/runtime-config';
import type { Metric } from '../adapters/emf';
import { HANDLERS, type CommitInput, type CommitOutput } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { ShardsFailedError } from './errors';
import { readPlan } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { validateBackupShardTask, validateCommitInput } from './validate';

/** Keys named in the error; Step Functions keeps an error cause up to 32 KiB. */
const MAX_LISTED = 20;

function runMetrics(result: PlannedCommit, nowMs: number, plannedAtMs: number | undefined): Metric[] {
  const metrics: Metric[] = [
    { name: 'ShardsCommitted', value: result.committed.length, unit: 'Count' },
    { name: 'ShardsFailed', value: result.missing.length, unit: 'Count' },
    { name: 'Samples', value: result.samples, unit: 'Count' },
    { name: 'StoredBytes', value: result.storedBytes, unit: 'Bytes' },
  ];
  if (plannedAtMs !== undefined)
    metrics.push({ name: 'DurationSeconds', value: (nowMs - plannedAtMs) / 1000, unit: 'Seconds' });
  const cp = result.checkpoint;
  if (cp) metrics.push({ name: 'LagSeconds', value: (nowMs - cp.end_ms) / 1000, unit: 'Seconds' });
  if (cp && !Number.isNaN(Date.parse(cp.updated_at))) {
    metrics.push({ name: 'CheckpointAgeSeconds', value: (nowMs - Date.parse(cp.updated_at)) / 1000, unit: 'Seconds' });
  }
  return metrics;
}

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
    };
    context.log.info('committed', {
      planned: refs.length,
      committed: output.committed,
      missing: missing.length,
      checkpointMs: output.checkpointMs,
    });
    if (missing.length === 0) return output;
    const listed =
      missing.slice(0, MAX_LISTED).join(', ') +
      (missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '');
    throw new ShardsFailedError(
      source.name,
      missing,
      `${missing.length} of ${refs.length} shards of source ${source.name} in run ${input.runId} were not backed up: ${listed}. ` +
        `The checkpoint is at ${checkpoint ? formatIso(checkpoint.end_ms) : '(not set yet)'}; the next run retries from there ` +
        '(the BackupShard logs name each shard’s error)',
    );
  }

  return middy(run, timeoutGuard(HANDLERS.commitBackup, deps)).use(
    commonMiddleware(HANDLERS.commitBackup, deps, validateCommitInput, (i) => ({ source: i.source, runId: i.runId })),
  );
}

export const handler = createHandler();
