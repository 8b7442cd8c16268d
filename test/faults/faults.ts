/**
 * Every fault of the suite, and how one is run and judged. A fault is injected into one run of the
 * real CLI; that run must either do everything it was asked (exit 0 with every sample) or fail
 * (non-zero) leaving nothing partial visible; a re-run must then complete, and `verify` (for a
 * restore, also a read-back of the target) must find every sample of the source, bit for bit.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { snappyUncompress } from '../../lambdas/core/prom/snappy';
import { startCli, type CliResult, type RunningCli } from '../harness/cli';
import { countDifferences } from '../harness/compare';
import { firstN, PASS, type FaultAction, type FaultRule, type ProxiedRequest } from '../harness/fault-proxy';
import {
  backupArgs,
  cli,
  cliEnv,
  CLI_TIMEOUT,
  disarm,
  freshTarget,
  readAll,
  rangeArgs,
  readStoreArgs,
  storeFor,
  storeState,
  verifyAgainst,
  type RestartablePrometheus,
  type World,
} from './world';

export interface FaultOutcome {
  readonly name: string;
  readonly injected: boolean;
  /** How the faulted run ended: an exit code, or "killed" when the suite SIGKILLed it. */
  readonly run: string;
  /** The first line of its error, when it failed. */
  readonly error: string;
  readonly falseSuccess: boolean;
  readonly partialVisible: number;
  readonly recovered: boolean;
  readonly lost: number;
  readonly changed: number;
  /** What went wrong, for the human-readable line. */
  readonly notes: string[];
}

/** What a fault's rules can reach while its run is going. */
export interface FaultContext {
  readonly world: World;
  /** The faulted run (set before the first request can arrive). */
  cli?: RunningCli;
  /** The restore target, in a restore fault. */
  target?: RestartablePrometheus;
  /** Set by a rule when it has done its damage. */
  fired: boolean;
  /** Work started by a rule that must finish before the run is judged (e.g. a restart). */
  pending: Promise<unknown>[];
}

interface BaseFault {
  readonly name: string;
  /** What is injected, for the table. */
  readonly what: string;
  /** Installs the rules on the proxies (and may kill a process from them). */
  arm(ctx: FaultContext): void;
  /** After the faulted run: bring back what the fault killed. */
  heal?(ctx: FaultContext): Promise<void>;
  /**
   * A fault that shows a defect reported and not yet fixed: what it is. Run only with
   * --open-defects, so the suite (and CI) stays a gate for everything else.
   */
  readonly open?: string;
}

export interface BackupFault extends BaseFault {
  readonly kind: 'backup';
  readonly store: 's3' | 'dir';
  /** A complete backup first, then the faulted run with --force (a forced re-run). */
  readonly forced?: boolean;
  /** Two backups of the source at once (the fault is the other run). */
  readonly concurrent?: boolean;
  /**
   * --retries for the faulted run, when what the fault kills stays down for the run's life: the
   * run must give up by itself, in seconds rather than after the default policy's minutes.
   */
  readonly retries?: number;
}

export interface RestoreFault extends BaseFault {
  readonly kind: 'restore';
}

export type Fault = BackupFault | RestoreFault;

const isRemoteRead = (r: ProxiedRequest) => r.method === 'POST' && r.url.includes('/api/v1/read');
/** A remote read of a shard's window, not the empty-window probe a backup starts with. */
const isRead = (r: ProxiedRequest) =>
  isRemoteRead(r) && !Buffer.from(snappyUncompress(r.body)).toString('latin1').includes('promvault_probe');
const isWrite = (r: ProxiedRequest) => r.method === 'POST' && r.url.includes('/api/v1/write');
const isPut = (part: string) => (r: ProxiedRequest) => r.method === 'PUT' && r.url.includes(`/${part}/`);
const isAnyPut = (r: ProxiedRequest) => r.method === 'PUT';
const isDelete = (r: ProxiedRequest) => r.method === 'DELETE';

/** Applies `action` to the first `n` requests `matches` picks, and records that it fired. */
function burst(ctx: FaultContext, n: number, matches: (r: ProxiedRequest) => boolean, action: FaultAction): FaultRule {
  const rule = firstN(n, matches, action);
  return async (req) => {
    const chosen = await rule(req);
    if (chosen.kind !== 'pass') ctx.fired = true;
    return chosen;
  };
}

/** At the n-th request `matches` picks: do `act` (a kill), then answer with `then`. */
function atNth(
  ctx: FaultContext,
  n: number,
  matches: (r: ProxiedRequest) => boolean,
  act: () => void,
  then: FaultAction,
): FaultRule {
  let seen = 0;
  return (req) => {
    if (!matches(req) || ++seen !== n) return PASS;
    ctx.fired = true;
    act();
    return then;
  };
}

const killCli = (ctx: FaultContext) => () => ctx.cli?.kill();
const S3_SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

type Proxies = 'sourceProxy' | 's3Proxy' | 'targetProxy';

/** A backup fault injected by a rule on one proxy; into an S3 store unless `more` says otherwise. */
function backupFault(
  name: string,
  what: string,
  proxy: Proxies,
  rule: (ctx: FaultContext) => FaultRule,
  more: Partial<BackupFault> = {},
): Fault {
  return { kind: 'backup', store: 's3', name, what, arm: (ctx) => ctx.world[proxy].setRule(rule(ctx)), ...more };
}

/** A restore fault injected by a rule on the target's proxy. */
function restoreFault(name: string, what: string, rule: (ctx: FaultContext) => FaultRule): Fault {
  return { kind: 'restore', name, what, arm: (ctx) => ctx.world.targetProxy.setRule(rule(ctx)) };
}

const RESET_REQUEST: FaultAction = { kind: 'reset-request' };

export const FAULTS: readonly Fault[] = [
  // The source (Prometheus remote read), through the proxy.
  backupFault(
    'source-reset-mid-stream',
    'remote read: half the answer, then a TCP reset (first 2 reads)',
    'sourceProxy',
    (ctx) => burst(ctx, 2, isRead, { kind: 'reset-mid-body' }),
  ),
  backupFault(
    'source-truncated-body',
    'remote read: full Content-Length announced, half sent, clean close (first 2 reads)',
    'sourceProxy',
    (ctx) => burst(ctx, 2, isRead, { kind: 'truncate-body' }),
  ),
  backupFault(
    'source-bad-frame-crc',
    'remote read: CRC-32C of the first streamed frame inverted (first 2 reads)',
    'sourceProxy',
    (ctx) => burst(ctx, 2, isRead, { kind: 'corrupt-frame-crc' }),
  ),
  backupFault(
    'source-cut-at-frame-boundary',
    'remote read: the frames in the first half of the answer, then a clean end (first 2 reads)',
    'sourceProxy',
    (ctx) => burst(ctx, 2, isRead, { kind: 'cut-at-frame-boundary' }),
    {
      open:
        'a streamed remote-read answer has no end marker: one cut cleanly at a frame boundary is taken as whole, ' +
        'the shard is committed without the missing series and the backup exits 0 (verify --against finds it)',
    },
  ),
  ...([500, 503, 429] as const).map((status) =>
    backupFault(`source-${status}-burst`, `remote read: HTTP ${status} (first 3 reads)`, 'sourceProxy', (ctx) =>
      burst(ctx, 3, isRead, { kind: 'status', status }),
    ),
  ),
  backupFault(
    'source-slower-than-timeout',
    'remote read: answer held 3 s, --timeout 2s (first 2 reads)',
    'sourceProxy',
    (ctx) => burst(ctx, 2, isRead, { kind: 'delay', ms: 3_000 }),
  ),
  backupFault(
    'source-killed-mid-backup',
    'Prometheus SIGKILLed at the 2nd read; restarted on its data after the run',
    'sourceProxy',
    (ctx) => atNth(ctx, 2, isRead, () => ctx.world.source.kill(), PASS),
    { heal: (ctx) => ctx.world.source.restart(), retries: 1 },
  ),
  // The S3 server, through the proxy.
  backupFault(
    's3-reset-mid-upload',
    'S3: connection reset instead of storing the upload (first 2 shard PUTs)',
    's3Proxy',
    (ctx) => burst(ctx, 2, isPut('shards'), RESET_REQUEST),
  ),
  backupFault('s3-503-slowdown-burst', 'S3: 503 SlowDown (first 4 PUTs)', 's3Proxy', (ctx) =>
    burst(ctx, 4, isAnyPut, { kind: 'status', status: 503, body: S3_SLOW_DOWN, contentType: 'application/xml' }),
  ),
  backupFault('s3-slower-than-timeout', 'S3: answer held 3 s, --s3-timeout 2s (first 2 shard PUTs)', 's3Proxy', (ctx) =>
    burst(ctx, 2, isPut('shards'), { kind: 'delay', ms: 3_000 }),
  ),
  backupFault(
    's3-killed-mid-upload',
    's3rver SIGKILLed at the first shard PUT; restarted after the run',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isPut('shards'), () => ctx.world.s3.kill(), PASS),
    { heal: (ctx) => ctx.world.s3.restart(), retries: 1 },
  ),
  // The remote-write target, through the proxy.
  restoreFault(
    'target-killed-and-restarted',
    'target Prometheus SIGKILLed at the 4th write, restarted on its data at once',
    (ctx) =>
      atNth(
        ctx,
        4,
        isWrite,
        () => {
          ctx.target!.kill();
          ctx.pending.push(ctx.target!.restart());
        },
        PASS,
      ),
  ),
  ...([429, 500, 503] as const).map((status) =>
    restoreFault(`target-${status}-burst`, `remote write: HTTP ${status} (first 4 writes)`, (ctx) =>
      burst(ctx, 4, isWrite, { kind: 'status', status }),
    ),
  ),
  restoreFault(
    'target-answer-lost',
    'remote write: stored, then a reset instead of the answer (first 3 writes)',
    (ctx) => burst(ctx, 3, isWrite, { kind: 'drop-answer' }),
  ),
  // SIGKILL of the worker (the promvault process) at points of a backup.
  backupFault('kill-backup-at-first-read', 'SIGKILL of backup at its first remote read', 'sourceProxy', (ctx) =>
    atNth(ctx, 1, isRead, killCli(ctx), RESET_REQUEST),
  ),
  backupFault(
    'kill-backup-mid-upload',
    'SIGKILL of backup while its first shard object is uploading (upload lost)',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isPut('shards'), killCli(ctx), RESET_REQUEST),
  ),
  backupFault(
    'kill-backup-at-manifest',
    'SIGKILL of backup as its first manifest PUT arrives (the PUT still lands)',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isPut('manifests'), killCli(ctx), PASS),
  ),
  backupFault(
    'kill-backup-at-3rd-manifest',
    'SIGKILL of backup as its 3rd manifest PUT arrives (the PUT is lost)',
    's3Proxy',
    (ctx) => atNth(ctx, 3, isPut('manifests'), killCli(ctx), RESET_REQUEST),
  ),
  backupFault(
    'kill-backup-dir-store-mid-run',
    'SIGKILL of a backup to a directory store at its 4th remote read',
    'sourceProxy',
    (ctx) => atNth(ctx, 4, isRead, killCli(ctx), PASS),
    { store: 'dir' },
  ),
  // ... of a forced re-run over a complete backup.
  backupFault(
    'kill-forced-rerun-mid-upload',
    'SIGKILL of backup --force at its first PUT (upload lost)',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isAnyPut, killCli(ctx), RESET_REQUEST),
    { forced: true },
  ),
  backupFault(
    'kill-forced-rerun-at-manifest',
    'SIGKILL of backup --force as its first manifest PUT arrives (the PUT still lands)',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isPut('manifests'), killCli(ctx), PASS),
    { forced: true },
  ),
  backupFault(
    'kill-forced-rerun-at-delete',
    'SIGKILL of backup --force at its first DELETE (the DELETE still lands)',
    's3Proxy',
    (ctx) => atNth(ctx, 1, isDelete, killCli(ctx), PASS),
    { forced: true },
  ),
  // ... of a restore (--report; the re-run resumes from it).
  ...([1, 8, 18] as const).map((n) =>
    restoreFault(
      `kill-restore-at-write-${n}`,
      `SIGKILL of restore at its remote write #${n} (the write ${n === 1 ? 'is lost' : 'still lands'})`,
      (ctx) => atNth(ctx, n, isWrite, killCli(ctx), n === 1 ? RESET_REQUEST : PASS),
    ),
  ),
  // Two backups of one source at once: the other run is the fault.
  ...(['s3', 'dir'] as const).map((store) =>
    backupFault(
      `two-backups-at-once-${store}`,
      `two backups of the source into one ${store === 's3' ? 'S3' : 'directory'} store, started together`,
      'sourceProxy',
      (ctx) => {
        ctx.fired = true;
        return () => PASS;
      },
      { store, concurrent: true },
    ),
  ),
];

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/** Every input here is good: exit 2 (bad input, nothing done) would misinform a wrapper script. */
function wrongExit(results: readonly CliResult[], runs: readonly RunningCli[]): string[] {
  const notes: string[] = [];
  if (results.some((r, i) => r.code === 2 && !runs[i]!.killed))
    notes.push('exit 2 claims bad input, but the input was good');
  // -1: the harness killed a run that did not end by itself (a hang, or retries past the CLI timeout).
  if (results.some((r, i) => r.code === -1 && !runs[i]!.killed)) notes.push('the run did not end by itself');
  return notes;
}

function describe(result: CliResult, killed: boolean): string {
  return killed ? 'killed' : `exit ${result.code}`;
}

async function settle(ctx: FaultContext, fault: Fault): Promise<void> {
  disarm(ctx.world);
  await Promise.all(ctx.pending);
  await fault.heal?.(ctx);
}

async function runBackupFault(world: World, fault: BackupFault): Promise<FaultOutcome> {
  const notes: string[] = [];
  const store = storeFor(world, fault.store, fault.name);
  const extra = fault.forced ? ['--force'] : [];
  const retries = fault.retries === undefined ? [] : ['--retries', String(fault.retries)];
  const args = ['backup', ...backupArgs(world, store, [...extra, ...retries])];
  if (fault.forced) {
    const first = await cli(['backup', ...backupArgs(world, store, [], 'patient')]);
    if (first.code !== 0) notes.push(`the backup before the forced run failed: ${firstLine(first.stderr)}`);
  }
  const ctx: FaultContext = { world, fired: false, pending: [] };
  fault.arm(ctx);
  const runs = fault.concurrent ? [startCli(args, opts()), startCli(args, opts())] : [startCli(args, opts())];
  ctx.cli = runs[0];
  const results = await Promise.all(runs.map((r) => r.result));
  await settle(ctx, fault);

  notes.push(...wrongExit(results, runs));
  const after = await storeState(world, store);
  const whole = after.counts.lost + after.counts.changed === 0;
  const falseSuccess = runs.some((r, i) => !r.killed && results[i]!.code === 0 && !whole);
  if (falseSuccess) notes.push(`exit 0 with ${after.counts.lost} lost, ${after.counts.changed} changed`);
  notes.push(...after.partialShards.map((p) => `partial shard visible: ${p}`));

  const rerun = await cli(['backup', ...backupArgs(world, store, extra, 'patient')]);
  if (rerun.code !== 0) notes.push(`re-run: exit ${rerun.code} ${firstLine(rerun.stderr)}`);
  const verify = await verifyAgainst(world, store, world.source.current.url);
  if (verify.code !== 0) notes.push(`verify --against: exit ${verify.code} ${firstLine(verify.stderr)}`);
  const final = await storeState(world, store);
  return {
    name: fault.name,
    injected: ctx.fired,
    run: runs.map((r, i) => describe(results[i]!, r.killed)).join(' + '),
    error: results.map((r) => firstLine(r.stderr)).find((e) => e !== '') ?? '',
    falseSuccess,
    partialVisible: after.partialShards.length,
    recovered: rerun.code === 0 && verify.code === 0 && final.counts.lost + final.counts.changed === 0,
    lost: final.counts.lost,
    changed: final.counts.changed,
    notes,
  };
}

function opts() {
  return { env: cliEnv, timeoutMs: CLI_TIMEOUT };
}

async function runRestoreFault(world: World, fault: RestoreFault): Promise<FaultOutcome> {
  const notes: string[] = [];
  const report = path.join(world.work, `${fault.name}.report.json`);
  const target = await freshTarget(world);
  try {
    const args = (resume: boolean) => [
      'restore',
      ...readStoreArgs(world, world.backedUp),
      ...rangeArgs(world),
      '--target',
      `${world.targetProxy.origin}/api/v1/write`,
      '--batch-samples',
      '500',
      '--concurrency',
      '2',
      '--report',
      report,
      ...(resume ? ['--resume', report] : []),
      '--json',
    ];
    const ctx: FaultContext = { world, target, fired: false, pending: [] };
    fault.arm(ctx);
    const run = startCli(args(false), opts());
    ctx.cli = run;
    const result = await run.result;
    await settle(ctx, fault);
    const readBack = () => readAll(target.current.remoteReadUrl, world.window);
    notes.push(...wrongExit([result], [run]));

    let falseSuccess = false;
    if (!run.killed && result.code === 0) {
      const counts = countDifferences(world.expected, await readBack());
      falseSuccess = counts.lost + counts.changed > 0;
      if (falseSuccess) notes.push(`exit 0 with ${counts.lost} lost, ${counts.changed} changed in the target`);
    }
    const rerun = await cli(args(existsSync(report)));
    if (rerun.code !== 0) notes.push(`re-run: exit ${rerun.code} ${firstLine(rerun.stderr)}`);
    const verify = await verifyAgainst(world, world.backedUp, target.current.url);
    if (verify.code !== 0) notes.push(`verify --against the target: exit ${verify.code} ${firstLine(verify.stderr)}`);
    const final = countDifferences(world.expected, await readBack());
    return {
      name: fault.name,
      injected: ctx.fired,
      run: describe(result, run.killed),
      error: firstLine(result.stderr),
      falseSuccess,
      partialVisible: 0,
      recovered: rerun.code === 0 && verify.code === 0 && final.lost + final.changed === 0,
      lost: final.lost,
      changed: final.changed,
      notes,
    };
  } finally {
    await target.stop();
  }
}

export async function runFault(world: World, fault: Fault): Promise<FaultOutcome> {
  try {
    return fault.kind === 'backup' ? await runBackupFault(world, fault) : await runRestoreFault(world, fault);
  } catch (err) {
    disarm(world);
    return {
      name: fault.name,
      injected: false,
      run: 'harness error',
      error: err instanceof Error ? err.message : String(err),
      falseSuccess: false,
      partialVisible: 0,
      recovered: false,
      lost: 0,
      changed: 0,
      notes: ['the suite itself failed on this fault'],
    };
  }
}

/** The faults the product must survive today: what `npm run faults` and CI run. */
export const GATE: readonly Fault[] = FAULTS.filter((f) => f.open === undefined);
