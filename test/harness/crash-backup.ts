/**
 * A backup of one 1-minute shard that a test can SIGKILL at an exact store step.
 *
 * Run as a child process (`node --require tsx/cjs test/harness/crash-backup.ts`), it backs up
 * CRASH_SHARD into CRASH_STORE (a directory or s3://bucket/prefix; CRASH_S3_ENDPOINT for an
 * S3-compatible server) from generated data (CRASH_VARIANT `old` or `new`, which differ in series,
 * values and size), with --force when CRASH_FORCE=1. CRASH_KILL_AT=`<n>:<before|during|after>`
 * makes it kill itself with SIGKILL at that phase of its n-th store call (see RecordingStore):
 * a real process death, with no chance to clean up or finish a write.
 */
import { openStore } from '../../lambdas/adapters/open-store';
import { backupShard } from '../../lambdas/core/backup/shard';
import { decodeShard } from '../../lambdas/core/format';
import type { ObjectStore, PrometheusReader } from '../../lambdas/core/ports';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import type { ShardManifest, ShardRef } from '../../lambdas/core/shard';
import type { SeriesPiece, TimeWindow } from '../../lambdas/core/types';
import { RecordingStore, type StepPhase } from './recording-store';

const START = Date.UTC(2026, 0, 1, 12, 0);

export const CRASH_SHARD: ShardRef = {
  source: 'crash',
  window: { startMs: START, endMs: START + 60_000 },
  selector: '',
};

export type DataVariant = 'old' | 'new';

/** Special values every variant carries, so a mix-up of bits would show. */
const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0];
const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;

/** One sample a second; `old` has 3 series, `new` 5 with other values: different objects under one source name. */
export function generatedSeries(variant: DataVariant, window: TimeWindow): SeriesPiece[] {
  const count = variant === 'old' ? 3 : 5;
  const out: SeriesPiece[] = [];
  for (let s = 0; s < count; s++) {
    const timestamps: number[] = [];
    for (let t = window.startMs; t < window.endMs; t += 1000) timestamps.push(t);
    const values = new Float64Array(timestamps.length);
    timestamps.forEach((_, i) => {
      values[i] = variant === 'old' ? i + s : i * 1.5 - s;
    });
    values[values.length - 1] = STALE_NAN;
    SPECIAL.forEach((v, i) => (values[i] = v));
    out.push({
      labels: [
        { name: '__name__', value: variant === 'old' ? 'crash_old' : 'crash_new' },
        { name: 'series', value: String(s) },
      ],
      timestamps: Float64Array.from(timestamps),
      values,
    });
  }
  return out;
}

export function generatedReader(variant: DataVariant): PrometheusReader {
  return {
    endpoint: `generated:${variant}`,
    async *read(window: TimeWindow) {
      yield* generatedSeries(variant, window);
    },
  };
}

/** Every sample as `labels ts valueBits`, sorted: equal lists mean bit-identical data. */
export function sampleLines(pieces: readonly SeriesPiece[]): string[] {
  const lines: string[] = [];
  const bits = new BigUint64Array(1);
  const view = new Float64Array(bits.buffer);
  for (const p of pieces) {
    const labels = p.labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',');
    p.timestamps.forEach((t, i) => {
      view[0] = p.values[i]!;
      lines.push(`${labels} ${t} ${bits[0]!.toString(16)}`);
    });
  }
  return lines.sort();
}

/** The samples of a committed shard, read the way restore reads them (manifest → object, SHA-256 checked). */
export async function readShard(store: ObjectStore, manifest: ShardManifest): Promise<string[]> {
  const pieces: SeriesPiece[] = [];
  for await (const p of decodeShard(await fetchVerified(store, manifest))) pieces.push(p);
  return sampleLines(pieces);
}

export interface KillPoint {
  readonly call: number;
  readonly phase: StepPhase;
}

export function formatKillPoint(k: KillPoint): string {
  return `${k.call}:${k.phase}`;
}

function parseKillPoint(text: string): KillPoint {
  const m = /^(\d+):(before|during|after)$/.exec(text);
  if (m === null) throw new Error(`CRASH_KILL_AT ${JSON.stringify(text)} is not <n>:<before|during|after>`);
  return { call: Number(m[1]), phase: m[2] as StepPhase };
}

async function main(): Promise<void> {
  const env = process.env;
  const kill = env.CRASH_KILL_AT ? parseKillPoint(env.CRASH_KILL_AT) : undefined;
  const inner = openStore(env.CRASH_STORE!, env.CRASH_S3_ENDPOINT ? { s3Endpoint: env.CRASH_S3_ENDPOINT } : {});
  const store = new RecordingStore(inner, (index, _call, phase) => {
    if (kill !== undefined && index === kill.call && phase === kill.phase) process.kill(process.pid, 'SIGKILL');
  });
  const variant = env.CRASH_VARIANT === 'new' ? 'new' : 'old';
  const result = await backupShard({ reader: generatedReader(variant), store, nowMs: Date.now }, CRASH_SHARD, {
    force: env.CRASH_FORCE === '1',
  });
  process.stdout.write(`${JSON.stringify({ status: result.status, calls: store.calls })}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
