/**
 * resume: a restore that stopped part-way (a failed target, a killed process) goes on from its
 * report without re-sending the shards it completed. The report names what it restored (store,
 * range, selectors, sources, target); a report of another restore is refused, since skipping
 * shards it lists would leave a gap. Pure: the CLI reads and writes the file.
 */
import { InputError } from '../errors';

/** What a restore is of; a report resumes only a restore of the same. */
export interface RestoreScope {
  readonly store: string;
  readonly from_ms: number;
  readonly to_ms: number;
  readonly match: readonly string[];
  readonly source_names: readonly string[];
  readonly target: string;
}

/** A shard written in full, with the samples the target acknowledged of it. */
export interface CompletedShard {
  readonly key: string;
  readonly samples: number;
}

const SCOPE_FIELDS = ['store', 'from_ms', 'to_ms', 'match', 'source_names', 'target'] as const;

/** The shards a previous report completed; InputError when it is no report of this restore. */
export function completedShards(report: unknown, scope: RestoreScope, file: string): CompletedShard[] {
  const doc = (typeof report === 'object' && report !== null ? report : {}) as Record<string, unknown>;
  const listed = doc.completed_shards;
  if (!Array.isArray(listed) || !SCOPE_FIELDS.every((f) => f in doc)) {
    throw new InputError(
      `--resume ${file} is not a promvault restore report (no completed_shards and scope): give the file written by restore --report, or the --json output of restore`,
    );
  }
  for (const field of SCOPE_FIELDS) {
    if (JSON.stringify(doc[field]) !== JSON.stringify(scope[field])) {
      throw new InputError(
        `--resume ${file} is the report of another restore: its ${field} is ${JSON.stringify(doc[field])}, this restore's is ${JSON.stringify(scope[field])}. Fix: repeat the flags of the restore it reports on, or leave out --resume to restore everything`,
      );
    }
  }
  return listed.map((c: unknown, i) => {
    const { key, samples } = (c ?? {}) as Record<string, unknown>;
    if (typeof key !== 'string' || typeof samples !== 'number')
      throw new InputError(`--resume ${file}: completed_shards[${i}] is not {key, samples}: the report is damaged`);
    return { key, samples };
  });
}
