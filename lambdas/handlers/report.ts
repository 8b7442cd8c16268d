/**
 * Report: ReportInput → ReportOutput. Aggregates the per-shard records under
 * restores/<runId>/results/ against the plan (the Map's results are discarded) and writes
 * restores/<runId>/report.json.
 */
import middy from '@middy/core';
import { mapPool } from '../core/pool';
import { aggregateRestore, isRestoreCoverage, isRestoreShardRecord } from '../core/restore/report';
import { ObjectNotFoundError } from '../core/errors';
import { HANDLERS, type ReportInput, type ReportOutput } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import {
  getJson,
  putJson,
  readPlan,
  restoreCoverageKey,
  restoreReadId,
  restoreReportKey,
  restoreResultKey,
  restoreResultsPrefix,
} from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext } from './middleware';
import { validateReportInput, validateRestoreShardTask } from '../schemas/tasks';

const RESULT_READS = 16;

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(input: ReportInput, context: HandlerContext): Promise<ReportOutput> {
    const config = deps.config();
    const store = deps.store(config);
    const planned = (await readPlan(store, input.planKey, validateRestoreShardTask)).map(restoreReadId);
    const wanted = new Set(planned.map((k) => restoreResultKey(input.runId, k)));
    const keys: string[] = [];
    for await (const info of store.list(restoreResultsPrefix(input.runId)))
      if (wanted.has(info.key)) keys.push(info.key);
    const docs = await mapPool(keys, RESULT_READS, (k) => getJson(store, k));
    const records = docs.filter(isRestoreShardRecord);
    if (records.length < docs.length)
      context.log.warn('ignoring unreadable shard results', { count: docs.length - records.length });
    // A plan written before coverage was recorded has none.
    const coverage = await getJson(store, restoreCoverageKey(input.runId)).catch((err: unknown) => {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    });
    const report = aggregateRestore(
      input.runId,
      planned,
      records,
      deps.nowMs(),
      isRestoreCoverage(coverage) ? coverage : undefined,
    );
    const reportKey = restoreReportKey(input.runId);
    await putJson(store, reportKey, report);
    const { shards, restored, failed_shards, samples, series } = report;
    return { runId: input.runId, reportKey, shards, restored, failed_shards, samples, series };
  }

  return middy(run, timeoutGuard(HANDLERS.report, deps)).use(
    commonMiddleware(HANDLERS.report, deps, validateReportInput, (i) => ({ runId: i.runId })),
  );
}

export const handler = createHandler();
