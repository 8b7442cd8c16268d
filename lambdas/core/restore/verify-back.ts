/**
 * verify-back: after a restore, read the restored range back from the target and compare it with
 * the backup sample by sample, bit for bit (verify.ts' comparison). A target that answered 2xx
 * yet lost or changed samples is caught here. Series the target rejected (already reported) and
 * series the target holds besides the backup's are left out.
 */
import type { ObjectStore, PrometheusReader } from '../ports';
import type { ShardManifest } from '../shard';
import type { LabelMatcher, SeriesPiece } from '../types';
import { compareWithSource } from '../verify';
import { decodeShard } from '../format';
import { formatLabels } from '../labels';
import { pullWindow } from '../backup/pull';
import { fetchVerified } from './fetch';
import { filterPieces } from './filter';
import type { RestoreShardInput } from './run';

export interface ReadBackReport {
  /** Samples of the backup read back from the target and compared. */
  readonly verified_samples: number;
  /** Samples missing from the target or different there. */
  readonly mismatches: number;
  /** The first mismatches, named. */
  readonly mismatch_examples: readonly string[];
}

/** The remote-read URL of a remote-write URL ending in /write (Prometheus, InfluxDB 1.x), else undefined. */
export function readBackUrl(target: string): string | undefined {
  const url = new URL(target);
  if (!/\/write$/.test(url.pathname)) return undefined;
  url.pathname = url.pathname.replace(/\/write$/, '/read');
  return url.toString();
}

/** Every series with a name: remote read needs at least one matcher. */
const EVERY_SERIES: readonly LabelMatcher[] = [{ type: '=~', name: '__name__', value: '.+' }];

export async function verifyRestored(
  store: ObjectStore,
  target: PrometheusReader,
  manifests: readonly ShardManifest[],
  input: RestoreShardInput,
  rejectedLabels: ReadonlySet<string> = new Set(),
): Promise<ReadBackReport> {
  let verified = 0;
  let mismatches = 0;
  const problems: string[] = [];
  const groups = input.selectorGroups.length > 0 ? input.selectorGroups : [EVERY_SERIES];
  for (const manifest of manifests) {
    const window = {
      startMs: Math.max(manifest.start_ms, input.window.startMs),
      endMs: Math.min(manifest.end_ms, input.window.endMs),
    };
    if (window.startMs >= window.endMs) continue;
    for (const group of groups) {
      const backup = filterPieces(decodeShard(await fetchVerified(store, manifest)), window, [group]);
      const counted = async function* (pieces: AsyncIterable<SeriesPiece>) {
        for await (const p of pieces) {
          if (rejectedLabels.has(formatLabels(p.labels))) continue;
          verified += p.timestamps.length;
          yield p;
        }
      };
      const readBack = pullWindow(target, window, group);
      mismatches += (await compareWithSource(counted(backup), readBack, problems, { sourceMayHoldMore: true }))
        .mismatches;
    }
  }
  // verify.ts speaks of a source; here the other side is the target.
  const examples = problems.map((p) => p.replace(/\bsource\b/g, 'target'));
  return { verified_samples: verified, mismatches, mismatch_examples: examples };
}
