/**
 * The restore report as a file: written after every shard (a new file renamed over the old, so a
 * killed restore leaves a whole report), read back by `restore --resume`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { InputError } from '../lambdas/core/errors';
import { completedShards, type CompletedShard, type RestoreScope } from '../lambdas/core/restore/resume';
import type { RestoreFailure, RestoreReport, RestoreShardResult } from '../lambdas/core/restore/run';

/** The shards a previous report completed, or none without --resume. */
export async function readResume(file: string | undefined, scope: RestoreScope): Promise<CompletedShard[]> {
  if (file === undefined) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InputError(
      `--resume ${file} cannot be read as a restore report (${(err as Error).message}): give the file written by restore --report`,
    );
  }
  return completedShards(doc, scope, file);
}

/** Keeps the report file up to date as shards finish; the shards resumed from count as completed. */
export class ReportFile {
  private readonly done: CompletedShard[];
  private samples: number;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string | undefined,
    private readonly scope: RestoreScope,
    private readonly resumed: readonly CompletedShard[],
  ) {
    this.done = [...resumed];
    this.samples = resumed.reduce((n, c) => n + c.samples, 0);
  }

  /** Records a finished shard and rewrites the file (in order, one write at a time). */
  shardDone(outcome: RestoreShardResult | RestoreFailure): Promise<void> {
    this.samples += outcome.samples;
    if (!('error' in outcome)) this.done.push({ key: outcome.key, samples: outcome.samples });
    return this.write({ ...this.scope, complete: false, samples: this.samples, completed_shards: this.done });
  }

  /** The run's report with the resumed shards folded in: the counts of the whole restore. */
  final(report: RestoreReport): RestoreReport & RestoreScope & { resumed_shards: number } {
    const resumedSamples = this.resumed.reduce((n, c) => n + c.samples, 0);
    return {
      ...this.scope,
      ...report,
      shards: report.shards + this.resumed.length,
      samples: report.samples + resumedSamples,
      completed_shards: [...this.resumed, ...report.completed_shards],
      resumed_shards: this.resumed.length,
    };
  }

  async finish(full: object): Promise<void> {
    await this.write({ ...full, complete: true });
  }

  private write(doc: object): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    const text = JSON.stringify(doc) + '\n';
    this.writing = this.writing.then(async () => {
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    });
    return this.writing;
  }
}
