/**
 * PlanRestore: RestoreInput → RestorePlanOutput. Finds the committed shards of the range
 * through the manifest catalog and writes one RestoreShardTask per read of a shard (where shards
 * overlap, each read carries its slice, so every sample is written once) to
 * restores/<runId>/plan.json; small plans also travel inline.
 */
import middy from '@middy/core';
import { InputError } from '../core/errors';
import { planRestore } from '../core/restore/plan';
import type { RestoreCoverage } from '../core/restore/report';
import { manifestKey, type ShardManifest } from '../core/shard';
import type { ShardSlice } from '../core/restore/coverage';
import { parseTime } from '../core/time';
import { HANDLERS, type RestoreInput, type RestorePlanOutput, type RestoreShardTaskSent } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { putJson, restoreCoverageKey, restorePlanKey, sha256Hex } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { checkRemoteWriteUrl, validateRestoreInput } from '../schemas/tasks';

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(input: RestoreInput, context: HandlerContext): Promise<RestorePlanOutput> {
    const config = deps.config();
    const nowMs = deps.nowMs();
    const fromMs = parseTime(input.from, nowMs, 'from');
    const toMs = parseTime(input.to, nowMs, 'to');
    if (fromMs >= toMs)
      throw new InputError(
        `invalid input: from ${input.from} is not before to ${input.to}: swap them or widen the range`,
      );
    const configured = config.restore.targetUrl;
    if (input.target === undefined && configured === undefined) {
      throw new InputError(
        'invalid input: field target is missing and the config has no restore.targetUrl: give the remote-write URL',
      );
    }
    const target = input.target ?? checkRemoteWriteUrl('restore.targetUrl', configured!);
    const selectors = input.selectors ?? [];
    const sources = input.sources ?? [];
    const store = deps.store(config);
    const plan = await planRestore(store, { sources, fromMs, toMs });

    // Same input and range, same run: a re-run overwrites the results of the shards it repeats.
    const runId =
      input.executionId ??
      `restore-${fromMs}-${toMs}-${sha256Hex(JSON.stringify({ sources, selectors, target })).slice(0, 12)}`;
    // Left out when off, so plans of unverified restores read as before.
    const verify = input.verify
      ? { verify: true, ...(input.verifySource !== undefined ? { verifySource: input.verifySource } : {}) }
      : {};
    // One task per read: where shards overlap, each carries the part of its shard it writes.
    const shards: RestoreShardTaskSent[] = plan.reads.map((m) => ({
      runId,
      manifestKey: manifestKey({
        source: m.source,
        window: { startMs: m.start_ms, endMs: m.end_ms },
        selector: m.selector,
      }),
      fromMs,
      toMs,
      selectors,
      target,
      ...verify,
      ...(m.slice !== undefined && !wholeShard(m, m.slice, fromMs, toMs) ? { slice: m.slice } : {}),
    }));
    const planKey = restorePlanKey(runId);
    await putJson(store, planKey, shards);
    const coverage: RestoreCoverage = { gaps: plan.gaps, unreadable: plan.unreadable };
    await putJson(store, restoreCoverageKey(runId), coverage);
    const inline = shards.length <= config.inlinePlanLimit;
    context.log.info('planned', { runId, fromMs, toMs, shards: shards.length, samples: plan.samples });
    return {
      runId,
      planKey,
      shardCount: shards.length,
      mode: inline ? 'inline' : 's3',
      shards: inline ? shards : [],
      samples: plan.samples,
      storedBytes: plan.stored_bytes,
      thawTier: input.thawTier ?? config.restore.thawTier,
    };
  }

  return middy(run, timeoutGuard(HANDLERS.planRestore, deps)).use(
    commonMiddleware(HANDLERS.planRestore, deps, validateRestoreInput),
  );
}

/** A slice that writes all of the shard's window in range and skips nothing: the task goes without it. */
function wholeShard(m: ShardManifest, slice: ShardSlice, fromMs: number, toMs: number): boolean {
  const { part, countOutside } = slice;
  return (
    part.skip.length === 0 &&
    part.startMs === Math.max(m.start_ms, fromMs) &&
    part.endMs === Math.min(m.end_ms, toMs) &&
    countOutside?.length === 1
  );
}

export const handler = createHandler();
