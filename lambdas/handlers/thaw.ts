/**
 * Thaw: ThawInput → ThawOutput. Asks for a readable copy of every archived shard object of the
 * plan and counts those not readable yet; the state machine waits and calls again until
 * `pending` is 0. Objects already thawing get no second request.
 */
import middy from '@middy/core';
import { readManifest } from '../core/manifest';
import { mapPool } from '../core/pool';
import { thawObjects } from '../core/restore/thaw';
import { HANDLERS, type ThawInput, type ThawOutput } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { readPlan } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { validateRestoreShardTask, validateThawInput } from '../schemas/tasks';

const MANIFEST_READS = 16;

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(input: ThawInput, context: HandlerContext): Promise<ThawOutput> {
    const config = deps.config();
    const store = deps.store(config);
    const tasks = await readPlan(store, input.planKey, validateRestoreShardTask);
    // Manifests stay in a readable tier; the objects they name may not.
    const keys = await mapPool(
      tasks,
      MANIFEST_READS,
      async (t) => (await readManifest(store, t.manifestKey)).object_key,
    );
    const summary = await thawObjects(deps.thawer(config), keys, {
      tier: input.thawTier,
      days: config.restore.thawDays,
    });
    context.log.info('thaw status', { ...summary });
    return {
      runId: input.runId,
      planKey: input.planKey,
      thawTier: input.thawTier,
      pending: summary.pending,
      requested: summary.requested,
    };
  }

  return middy(run, timeoutGuard(HANDLERS.thaw, deps)).use(commonMiddleware(HANDLERS.thaw, deps, validateThawInput));
}

export const handler = createHandler();
