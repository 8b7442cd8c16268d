/**
 * `npm run bench [-- --json] [-- --only generated|real|modes] [-- --rounds N]` (default: 3 rounds)
 *
 * Measures backup and restore side by side with their baselines in one run, on the generated
 * benchmark corpus (>= 5 M samples) and on the real TSDB snapshot in ../shared/corpus:
 *  - storage: our stored bytes/sample vs the TSDB snapshot itself, that snapshot tarred with
 *    `zstd -19`, and VictoriaMetrics' vmbackup of the same snapshot imported with vmctl;
 *  - speed: backup vs a raw remote read of the same windows; restore vs replaying the same
 *    remote-write requests built beforehand; best of N alternating rounds;
 *  - memory: peak RSS of the backup/restore process for the whole range and a quarter of it,
 *    the highest of N runs each;
 *  - why: CPU seconds of each step, of the Prometheus beside it and stolen from the machine by
 *    the hypervisor meanwhile (`cpu_seconds`), and how much of the time replay and restore kept
 *    every lane busy (`lanes_full_share`);
 *  - replay and restore again with the target Prometheus on one CPU and the worker on another
 *    (`own_cores`), as in a deployment, where the restore does not run on the target's cores;
 *  - the restore's data path alone (no network, no target) with each request-body encoder:
 *    native snappy, snappyjs and the layout writer that replaces snappyjs where the native
 *    binding is not installed (`restore_data_path`: CPU seconds and request bytes);
 *  - source modes: on the real corpus, backup through remote read and through the HTTP query API
 *    (query mode) in alternating rounds: samples per second and stored bytes per sample
 *    (`source_modes`); `--only modes` runs this alone; beside them the federate capture
 *    pipeline on the corpus rendered as /federate answers (no network: see bench/worker.ts);
 *  - start-up: `promvault --help` through the package's bin (the bundle `npm run build` writes)
 *    against `node -e 0`, median of alternating runs (`cli_start_seconds`, `node_start_seconds`).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startPrometheus, snapshot, type PrometheusServer } from '../test/harness/prometheus';
import { startPrometheusWithHistory } from '../test/harness/history';
import { startVictoriaMetrics, flushVictoriaMetrics } from '../test/harness/victoria';
import { makeTempDir, requireBinary, stopAllProcesses } from '../test/harness/ports';
import { SNAPPY_IMPLEMENTATION } from '../lambdas/core/prom/snappy';

const exec = promisify(execFile);
const HOUR = 3_600_000;
const SHARD_MS = HOUR;
const CONCURRENCY = 4;
const BATCH = 5000;
/** The /federate capture interval the corpus is rendered at: its scrape interval. */
const FEDERATE_INTERVAL_MS = 1000;

/** Which CPU each side of a replay or restore gets when they are kept apart (taskset -c lists). */
interface CorePinning {
  readonly target: string;
  readonly worker: string;
}
const OWN_CORES: CorePinning | undefined = os.cpus().length >= 2 ? { target: '1', worker: '0' } : undefined;
// $PROMVAULT_CORPUS_DIR where the checkout is not beside ../shared (a worktree elsewhere).
const CORPUS_DIR = process.env.PROMVAULT_CORPUS_DIR ?? path.resolve(__dirname, '../../shared/corpus');

interface Flags {
  json: boolean;
  only?: string;
  rounds: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { json: false, rounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') flags.json = true;
    else if (argv[i] === '--only') flags.only = argv[++i];
    else if (argv[i] === '--rounds') flags.rounds = Number(argv[++i]);
  }
  return flags;
}

// Progress goes to stderr, so `--json` leaves one JSON line on stdout.
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

interface Source {
  prom: PrometheusServer;
  samples: number;
  series: number;
  fromMs: number;
  toMs: number;
  stop(): Promise<void>;
}

async function generatedSource(): Promise<Source> {
  log('generated corpus: backfilling (cached after the first run) and starting Prometheus');
  const prom = await startPrometheusWithHistory('bench');
  return {
    prom,
    samples: prom.samples,
    series: prom.series,
    fromMs: prom.corpus.startMs,
    toMs: prom.corpus.startMs + prom.corpus.durationMs,
    stop: () => prom.stop(),
  };
}

async function realSource(): Promise<Source> {
  log(`real corpus: unpacking ${CORPUS_DIR}/real-1s-mixed.tar.zst and starting Prometheus on the copy`);
  const meta = JSON.parse(await readFile(path.join(CORPUS_DIR, 'real-1s-mixed.json'), 'utf8')) as {
    samples: number;
    series: number;
    min_ms: number;
    max_ms: number;
  };
  const dir = await makeTempDir('bench-real');
  await sh(
    `zstd -dc ${JSON.stringify(path.join(CORPUS_DIR, 'real-1s-mixed.tar.zst'))} | tar -C ${JSON.stringify(dir)} -xf -`,
  );
  const prom = await startPrometheus({ dataDir: dir });
  return {
    prom,
    samples: meta.samples,
    series: meta.series,
    fromMs: meta.min_ms,
    toMs: meta.max_ms + 1,
    stop: async () => {
      await prom.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function sh(command: string): Promise<string> {
  const { stdout } = await exec('bash', ['-o', 'pipefail', '-c', command], { maxBuffer: 64 << 20 });
  return stdout;
}

async function dirBytes(dir: string): Promise<number> {
  return Number((await sh(`du -sb ${JSON.stringify(dir)} | cut -f1`)).trim());
}

interface WorkerResult {
  seconds: number;
  peak_rss_mb: number;
  [k: string]: unknown;
}

/** CPU seconds a process has used so far (Linux /proc), or NaN where that cannot be read. */
async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = 100;

/**
 * CPU seconds the hypervisor has given to other machines while this one wanted them ("steal",
 * all cores, Linux /proc/stat), or NaN where that cannot be read. On a shared host it comes in
 * stretches, and a step that runs through one is slowed without using more CPU itself.
 */
async function machineStolenSeconds(): Promise<number> {
  try {
    const cpu = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/);
    return Number(cpu[8]) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Runs a worker step and records the CPU the server used meanwhile (it shares the machine). */
async function workerBeside(
  server: PrometheusServer,
  step: string,
  args: Record<string, string | number>,
  cpus?: string,
): Promise<WorkerResult> {
  const before = await processCpuSeconds(server.process.pid);
  const stolenBefore = await machineStolenSeconds();
  const result = await worker(step, args, cpus);
  const after = await processCpuSeconds(server.process.pid);
  const stolen = (await machineStolenSeconds()) - stolenBefore;
  return { ...result, server_cpu_seconds: round3(after - before), stolen_seconds: round3(stolen) };
}

/** Runs a bench/worker.ts step in a process of its own, on `cpus` only when given (taskset). */
function worker(step: string, args: Record<string, string | number>, cpus?: string): Promise<WorkerResult> {
  const argv = [
    require.resolve('tsx/cli'),
    path.join(__dirname, 'worker.ts'),
    step,
    ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]),
  ];
  return new Promise((resolve, reject) => {
    // taskset execs node: the child's pid, and so its resource usage, stay the worker's.
    const [command, commandArgs] =
      cpus === undefined
        ? [process.execPath, argv]
        : [requireBinary('taskset', 'util-linux'), ['-c', cpus, process.execPath, ...argv]];
    const child = spawn(command, commandArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench worker ${step} exited ${code}: ${err.slice(-2000)}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as WorkerResult);
    });
  });
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function storageAnchors(src: Source, work: string) {
  const snap = await snapshot(src.prom);
  const tsdbBytes = await dirBytes(snap);
  log(`snapshot ${snap}: ${tsdbBytes} bytes; compressing with zstd -19`);
  const zstdBytes = Number((await sh(`tar -C ${JSON.stringify(snap)} -cf - . | zstd -19 -q -c | wc -c`)).trim());

  log('importing the snapshot into VictoriaMetrics with vmctl, then vmbackup');
  const vm = await startVictoriaMetrics();
  try {
    // This vmctl wants a terminal even with -s.
    const cmd = `vmctl prometheus --prom-snapshot=${snap} --vm-addr=${vm.url} -s --vm-disable-progress-bar`;
    const out = await sh(`script -qec ${JSON.stringify(cmd)} /dev/null`);
    log(`vmctl: ${out.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
    await flushVictoriaMetrics(vm);
    const dst = path.join(work, 'vmbackup');
    await exec(
      'vmbackup',
      [`-storageDataPath=${vm.dataDir}`, `-snapshot.createURL=${vm.url}/snapshot/create`, `-dst=fs://${dst}`],
      { maxBuffer: 64 << 20 },
    );
    const vmBytes = await dirBytes(dst);
    return {
      tsdb_bytes_per_sample: round3(tsdbBytes / src.samples),
      anchor_tsdb_zstd_bytes_per_sample: round3(zstdBytes / src.samples),
      anchor_vmbackup_bytes_per_sample: round3(vmBytes / src.samples),
    };
  } finally {
    await vm.stop();
  }
}

async function measure(name: string, open: () => Promise<Source>, flags: Flags) {
  const src = await open();
  const work = await makeTempDir(`bench-${name}`);
  try {
    const anchors = await storageAnchors(src, work);
    const range = {
      url: src.prom.remoteReadUrl,
      from: src.fromMs,
      to: src.toMs,
      shard: SHARD_MS,
      concurrency: CONCURRENCY,
    };
    const pulls: WorkerResult[] = [];
    const backups: WorkerResult[] = [];
    for (let r = 0; r < flags.rounds; r++) {
      log(`${name} round ${r + 1}/${flags.rounds}: raw pull, then backup`);
      pulls.push(await workerBeside(src.prom, 'pull', range));
      const store = path.join(work, `store-${r}`);
      await rm(store, { recursive: true, force: true });
      backups.push(await workerBeside(src.prom, 'backup', { ...range, store }));
    }
    const store = path.join(work, 'store-0');
    const backup = backups[0]!;
    if (backup.samples !== src.samples)
      throw new Error(`backup holds ${backup.samples} samples, the source ${src.samples}`);
    const quarterTo = src.fromMs + Math.floor((src.toMs - src.fromMs) / 4);
    // As many quarter runs as full ones: peak RSS varies from run to run with the garbage
    // collector's timing, and the highest of three against a single run would skew the ratio.
    const quarters: WorkerResult[] = [];
    for (let r = 0; r < flags.rounds; r++) {
      log(`${name} round ${r + 1}/${flags.rounds}: backup of a quarter of the range`);
      const quarterStore = path.join(work, 'store-quarter');
      await rm(quarterStore, { recursive: true, force: true });
      quarters.push(await worker('backup', { ...range, to: quarterTo, store: quarterStore }));
    }

    const restores: WorkerResult[] = [];
    const replays: WorkerResult[] = [];
    const into = async (step: string, extra: Record<string, string | number> = {}, pin?: CorePinning) => {
      const target = await startPrometheus({ outOfOrderWindow: '30d', cpus: pin?.target });
      try {
        return await workerBeside(
          target,
          step,
          {
            store,
            from: src.fromMs,
            to: src.toMs,
            target: target.remoteWriteUrl,
            batch: BATCH,
            concurrency: CONCURRENCY,
            ...extra,
          },
          pin?.worker,
        );
      } finally {
        await target.stop();
      }
    };
    for (let r = 0; r < flags.rounds; r++) {
      log(`${name} round ${r + 1}/${flags.rounds}: replay of pre-built requests, then restore`);
      replays.push(await into('replay'));
      restores.push(await into('restore'));
    }
    // The same two steps with the target on a core of its own, as it is in a deployment (the
    // restore runs in Lambda or beside the source, not on the target's machine). On two shared
    // cores every CPU second of the restore's data path is taken from the target; here it is not.
    const ownReplays: WorkerResult[] = [];
    const ownRestores: WorkerResult[] = [];
    if (OWN_CORES) {
      for (let r = 0; r < flags.rounds; r++) {
        log(`${name} round ${r + 1}/${flags.rounds}: replay, then restore, target and worker on a core each`);
        ownReplays.push(await into('replay', {}, OWN_CORES));
        ownRestores.push(await into('restore', {}, OWN_CORES));
      }
    }
    const restoreQuarters: WorkerResult[] = [];
    for (let r = 0; r < flags.rounds; r++) {
      log(`${name} round ${r + 1}/${flags.rounds}: restore of a quarter of the range`);
      restoreQuarters.push(await into('restore', { to: quarterTo }));
    }

    // The data path alone, per request-body encoder, alternating: what a restore costs where
    // native snappy is installed and where it is not (the Lambda bundle).
    const encoders = ['native_snappy', 'snappyjs', 'layout_snappy'] as const;
    const encodes: Record<(typeof encoders)[number], WorkerResult[]> = {
      native_snappy: [],
      snappyjs: [],
      layout_snappy: [],
    };
    for (let r = 0; r < flags.rounds; r++) {
      log(`${name} round ${r + 1}/${flags.rounds}: restore data path into a discarding writer, per body encoder`);
      for (const encoder of encoders) {
        encodes[encoder].push(
          await worker('encode', {
            store,
            from: src.fromMs,
            to: src.toMs,
            batch: BATCH,
            concurrency: CONCURRENCY,
            encoder,
          }),
        );
      }
    }
    const encodeFigures = (xs: WorkerResult[]) => ({
      cpu_seconds: round3(Math.min(...xs.map((x) => x.cpu_seconds as number))),
      body_bytes: xs[0]!.body_bytes as number,
    });

    const best = (xs: WorkerResult[]) => Math.min(...xs.map((x) => x.seconds));
    const fastest = (xs: WorkerResult[]) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    // CPU seconds of the fastest round of each step: ours (all threads) and the Prometheus beside it.
    const cpuOf = (xs: WorkerResult[]) => {
      const f = fastest(xs);
      return {
        ours: round3(f.cpu_seconds as number),
        prometheus: f.server_cpu_seconds as number,
        stolen: f.stolen_seconds as number,
      };
    };
    const result = {
      samples: src.samples,
      series: src.series,
      ...anchors,
      stored_bytes_per_sample: round3((backup.stored_bytes as number) / src.samples),
      raw_pull_seconds: round3(best(pulls)),
      backup_seconds: round3(best(backups)),
      backup_peak_rss_mb: Math.max(...backups.map((b) => b.peak_rss_mb)),
      backup_peak_rss_mb_quarter: Math.max(...quarters.map((b) => b.peak_rss_mb)),
      raw_replay_seconds: round3(best(replays)),
      restore_seconds: round3(best(restores)),
      restore_peak_rss_mb: Math.max(...restores.map((b) => b.peak_rss_mb)),
      restore_peak_rss_mb_quarter: Math.max(...restoreQuarters.map((b) => b.peak_rss_mb)),
      shards: backup.shards,
      rounds: flags.rounds,
      cpu_seconds: {
        raw_pull: cpuOf(pulls),
        backup: cpuOf(backups),
        raw_replay: cpuOf(replays),
        restore: cpuOf(restores),
      },
      // CPU of the fastest round (all threads) and the request bytes, per body encoder.
      restore_data_path: {
        native_snappy: encodeFigures(encodes.native_snappy),
        snappyjs: encodeFigures(encodes.snappyjs),
        layout_snappy: encodeFigures(encodes.layout_snappy),
      },
      // Replay and restore with the target Prometheus on CPU 1 and the worker on CPU 0, best of
      // the rounds; null where the machine has one CPU.
      own_cores: OWN_CORES
        ? {
            raw_replay_seconds: round3(best(ownReplays)),
            restore_seconds: round3(best(ownRestores)),
            cpu_seconds: { raw_replay: cpuOf(ownReplays), restore: cpuOf(ownRestores) },
          }
        : null,
      // Median over the rounds: how well each kept every lane busy (bench/worker.ts).
      lanes_full_share: {
        raw_replay: median(replays.map((x) => x.lanes_full_share as number)),
        restore: median(restores.map((x) => x.lanes_full_share as number)),
      },
    };
    return {
      ...result,
      ratios: {
        stored_vs_tsdb_zstd: round3(result.stored_bytes_per_sample / result.anchor_tsdb_zstd_bytes_per_sample),
        stored_vs_vmbackup: round3(result.stored_bytes_per_sample / result.anchor_vmbackup_bytes_per_sample),
        backup_vs_raw_pull: round3(result.backup_seconds / result.raw_pull_seconds),
        restore_vs_raw_replay: round3(result.restore_seconds / result.raw_replay_seconds),
        restore_vs_raw_replay_own_cores: result.own_cores
          ? round3(result.own_cores.restore_seconds / result.own_cores.raw_replay_seconds)
          : null,
        backup_rss_full_vs_quarter: round3(result.backup_peak_rss_mb / result.backup_peak_rss_mb_quarter),
        restore_rss_full_vs_quarter: round3(result.restore_peak_rss_mb / result.restore_peak_rss_mb_quarter),
      },
    };
  } finally {
    await src.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Backup of the real corpus per source mode, alternating rounds; best round of each. */
async function measureModes(flags: Flags) {
  const src = await realSource();
  const work = await makeTempDir('bench-modes');
  try {
    const range = { from: src.fromMs, to: src.toMs, shard: SHARD_MS, concurrency: CONCURRENCY };
    const modes = {
      remote_read: { url: src.prom.remoteReadUrl, mode: 'remote-read' },
      query: { url: src.prom.url, mode: 'query' },
    };
    const runs: Record<keyof typeof modes, WorkerResult[]> = { remote_read: [], query: [] };
    const answers = path.join(work, 'federate-answers');
    let rendered: WorkerResult | undefined;
    const federateRuns: WorkerResult[] = [];
    for (let r = 0; r < flags.rounds; r++) {
      for (const [name, args] of Object.entries(modes) as [keyof typeof modes, (typeof modes)['query']][]) {
        log(`source modes round ${r + 1}/${flags.rounds}: backup over ${args.mode}`);
        const store = path.join(work, `${name}-${r}`);
        runs[name].push(await workerBeside(src.prom, 'backup', { ...range, ...args, store }));
        if (name === 'remote_read' && rendered === undefined) {
          log(`source modes: rendering the backed-up samples as /federate answers every ${FEDERATE_INTERVAL_MS} ms`);
          rendered = await worker('render', {
            store,
            from: src.fromMs,
            to: src.toMs,
            interval: FEDERATE_INTERVAL_MS,
            out: answers,
          });
        }
        await rm(store, { recursive: true, force: true });
      }
      log(`source modes round ${r + 1}/${flags.rounds}: federate capture of the rendered answers`);
      const store = path.join(work, `federate-${r}`);
      federateRuns.push(
        await worker('federate', { answers, store, from: src.fromMs, interval: FEDERATE_INTERVAL_MS, shard: SHARD_MS }),
      );
      await rm(store, { recursive: true, force: true });
    }
    const figures = (xs: WorkerResult[]) => {
      const { best, ...speed } = bestRound(xs);
      return {
        ...speed,
        cpu_seconds: { ours: round3(best.cpu_seconds as number), prometheus: best.server_cpu_seconds as number },
      };
    };
    const remoteRead = figures(runs.remote_read);
    const query = figures(runs.query);
    if (remoteRead.samples !== src.samples)
      throw new Error(`the remote-read backup holds ${remoteRead.samples} samples, the source ${src.samples}`);
    const federate = federateFigures(federateRuns, rendered!);
    // Every sample the answers hold is captured once: no more, no fewer.
    if (federate.samples !== federate.rendering.samples_in_answers)
      throw new Error(
        `the capture holds ${federate.samples} samples, the answers ${federate.rendering.samples_in_answers}`,
      );
    return {
      samples: src.samples,
      series: src.series,
      rounds: flags.rounds,
      remote_read: remoteRead,
      query,
      federate,
      // Staleness markers: remote read returns them, the query API does not.
      samples_not_in_query_mode: remoteRead.samples - query.samples,
      query_vs_remote_read_seconds: round3(query.seconds / remoteRead.seconds),
    };
  } finally {
    await src.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** The fastest of a step's rounds, and its samples per second and stored bytes per sample. */
function bestRound(xs: WorkerResult[]) {
  const best = xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const samples = best.samples as number;
  return {
    best,
    samples,
    seconds: round3(best.seconds),
    samples_per_second: Math.round(samples / best.seconds),
    stored_bytes_per_sample: round3((best.stored_bytes as number) / samples),
  };
}

/**
 * The federate capture of rendered answers (bench/worker.ts federate), best round: no Prometheus
 * runs, so only our CPU counts; the rendering's own figures say which samples the answers hold.
 */
function federateFigures(xs: WorkerResult[], rendered: WorkerResult) {
  const { best, ...speed } = bestRound(xs);
  return {
    ...speed,
    cpu_seconds: { ours: round3(best.cpu_seconds as number) },
    peak_rss_mb: best.peak_rss_mb,
    interval_ms: FEDERATE_INTERVAL_MS,
    rendering: {
      answers: rendered.answers as number,
      text_bytes: rendered.text_bytes as number,
      samples_in_answers: rendered.samples_in_answers as number,
      stale_markers: rendered.stale_markers as number,
      superseded: rendered.superseded as number,
    },
  };
}

function modesTable(m: Awaited<ReturnType<typeof measureModes>>): string {
  const row = (name: string, f: typeof m.query) =>
    `  ${name.padEnd(12)} ${String(f.samples_per_second).padStart(9)} samples/s  ${String(f.stored_bytes_per_sample).padStart(6)} B/sample  ${f.seconds} s, CPU s ${f.cpu_seconds.ours}+${f.cpu_seconds.prometheus}`;
  return [
    `source modes (real corpus, ${m.samples.toLocaleString('en-US')} samples, best of ${m.rounds}):`,
    row('remote-read', m.remote_read),
    row('query', m.query),
    `  ${'federate'.padEnd(12)} ${String(m.federate.samples_per_second).padStart(9)} samples/s  ${String(m.federate.stored_bytes_per_sample).padStart(6)} B/sample  ${m.federate.seconds} s, CPU s ${m.federate.cpu_seconds.ours}, peak RSS ${m.federate.peak_rss_mb} MB`,
    `  query mode holds ${m.samples_not_in_query_mode} fewer samples (staleness markers), takes ×${m.query_vs_remote_read_seconds} the time`,
    `  federate: capture pipeline on ${m.federate.rendering.answers} rendered answers (one per ${m.federate.interval_ms} ms, no network), ` +
      `${m.federate.samples.toLocaleString('en-US')} samples: the corpus less ${m.federate.rendering.stale_markers} staleness markers ` +
      `and ${m.federate.rendering.superseded} samples replaced by a newer one of their series before the next answer`,
  ].join('\n');
}

const fmtCpu = (c: { ours: number; prometheus: number; stolen: number }) =>
  `${c.ours}+${c.prometheus}${c.stolen > 0 ? ` (${c.stolen} stolen)` : ''}`;

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function table(name: string, r: Awaited<ReturnType<typeof measure>>): string {
  const rows: [string, string, string][] = [
    [
      'stored bytes/sample',
      `${r.stored_bytes_per_sample}`,
      `tsdb ${r.tsdb_bytes_per_sample}, tsdb+zstd-19 ${r.anchor_tsdb_zstd_bytes_per_sample} (×${r.ratios.stored_vs_tsdb_zstd}), vmbackup ${r.anchor_vmbackup_bytes_per_sample} (×${r.ratios.stored_vs_vmbackup})`,
    ],
    ['backup seconds', `${r.backup_seconds}`, `raw pull ${r.raw_pull_seconds} (×${r.ratios.backup_vs_raw_pull})`],
    [
      'backup peak RSS MB',
      `${r.backup_peak_rss_mb}`,
      `quarter range ${r.backup_peak_rss_mb_quarter} (×${r.ratios.backup_rss_full_vs_quarter})`,
    ],
    [
      'restore seconds',
      `${r.restore_seconds}`,
      `raw replay ${r.raw_replay_seconds} (×${r.ratios.restore_vs_raw_replay})`,
    ],
    [
      'restore s, own cores',
      r.own_cores ? `${r.own_cores.restore_seconds}` : '-',
      r.own_cores
        ? `raw replay ${r.own_cores.raw_replay_seconds} (×${r.ratios.restore_vs_raw_replay_own_cores}); CPU s ${fmtCpu(r.own_cores.cpu_seconds.restore)} / ${fmtCpu(r.own_cores.cpu_seconds.raw_replay)}`
        : 'one CPU: not measured',
    ],
    [
      'CPU s, ours+prometheus',
      `${fmtCpu(r.cpu_seconds.restore)}`,
      `raw replay ${fmtCpu(r.cpu_seconds.raw_replay)}; backup ${fmtCpu(r.cpu_seconds.backup)}, raw pull ${fmtCpu(r.cpu_seconds.raw_pull)}`,
    ],
    [
      'all lanes busy',
      `${r.lanes_full_share.restore}`,
      `raw replay ${r.lanes_full_share.raw_replay} (share of the time, median of rounds)`,
    ],
    [
      'data path CPU s',
      `${r.restore_data_path.native_snappy.cpu_seconds}`,
      `native snappy, ${mb(r.restore_data_path.native_snappy.body_bytes)}; snappyjs ${r.restore_data_path.snappyjs.cpu_seconds}, ${mb(r.restore_data_path.snappyjs.body_bytes)}; layout ${r.restore_data_path.layout_snappy.cpu_seconds}, ${mb(r.restore_data_path.layout_snappy.body_bytes)}`,
    ],
    [
      'restore peak RSS MB',
      `${r.restore_peak_rss_mb}`,
      `quarter range ${r.restore_peak_rss_mb_quarter} (×${r.ratios.restore_rss_full_vs_quarter})`,
    ],
  ];
  return [
    `${name}: ${r.samples.toLocaleString('en-US')} samples, ${r.series} series, best of ${r.rounds}`,
    ...rows.map(([a, b, c]) => `  ${a.padEnd(22)} ${b.padStart(8)}   ${c}`),
  ].join('\n');
}

/** Alternating runs of each command line, so both see the same machine load. */
const START_RUNS = 15;
const BIN = path.resolve(__dirname, '../bin/promvault.js');

/** Median wall seconds of `node bin/promvault.js --help` and of `node -e 0`. */
function measureStart() {
  if (!existsSync(path.resolve(__dirname, '../dist/promvault.js')))
    throw new Error('dist/promvault.js is missing: run `npm run build` first');
  const wall = (args: string[]) => {
    const started = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}`);
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const cli: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < START_RUNS; i++) {
    cli.push(wall([BIN, '--help']));
    node.push(wall(['-e', '0']));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cliStart = median(cli);
  const nodeStart = median(node);
  return {
    cli_start_seconds: round3(cliStart),
    node_start_seconds: round3(nodeStart),
    cli_start_vs_node: round3(cliStart / nodeStart),
  };
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  await mkdir(os.tmpdir(), { recursive: true });
  log('start-up: promvault --help against node -e 0');
  const start = measureStart();
  const only = (what: string) => flags.only === undefined || flags.only === what;
  const generated = only('generated') ? await measure('generated', generatedSource, flags) : undefined;
  const real = only('real') ? await measure('real', realSource, flags) : undefined;
  const modes = only('modes') ? await measureModes(flags) : undefined;
  const out = {
    ...(generated ?? {}),
    ...(real ? { real } : {}),
    ...(modes ? { source_modes: modes } : {}),
    ...start,
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    // Restore's remote-write compression, which moves restore_seconds (docs/BENCHMARKS.md).
    snappy: SNAPPY_IMPLEMENTATION,
  };
  if (flags.json) process.stdout.write(JSON.stringify(out) + '\n');
  else {
    if (generated) process.stdout.write(table('generated', generated) + '\n');
    if (real) process.stdout.write(table('real', real) + '\n');
    if (modes) process.stdout.write(modesTable(modes) + '\n');
    process.stdout.write(
      `start-up: promvault --help ${start.cli_start_seconds} s, node -e 0 ${start.node_start_seconds} s ` +
        `(×${start.cli_start_vs_node}, median of ${START_RUNS})\n`,
    );
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAllProcesses());
