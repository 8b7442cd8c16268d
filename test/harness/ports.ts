/**
 * Ports, polling and child processes for integration tests.
 *
 * Every process started through startProcess is registered; when the Node process exits
 * (normally, or on SIGINT/SIGTERM/SIGHUP) leftovers get SIGKILL and the temp dirs from
 * makeTempDir that are still there are removed. stopAllProcesses() is there for a jest
 * afterAll. Servers bind 127.0.0.1 only, on ports from freePort().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe listener'));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Give up after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Pause between attempts; default 100 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the error message, e.g. "prometheus /-/ready". */
  readonly what: string;
  /** Fail at once, with its output, if this process exits while waiting. */
  readonly process?: ManagedProcess;
}

/**
 * Calls fn until it returns something other than undefined/false/null (which is returned).
 * Exceptions count as "not yet"; the last one is quoted when the time runs out.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: WaitOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const proc = options.process;
    if (proc?.exit) {
      throw new Error(
        `${proc.name} exited (${describeExit(proc.exit)}) while waiting for ${options.what}\n${proc.tail()}`,
      );
    }
    try {
      const result = await fn();
      if (result !== undefined && result !== null && result !== false) return result;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why =
        lastError === undefined
          ? ''
          : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      const output = proc ? `\n${proc.tail()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${why}${output}`);
    }
    await sleep(intervalMs);
  }
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function describeExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/**
 * Resolves a binary on PATH (or an absolute path). Throws "<name> not found: apt-get install -y
 * <aptPackage>" when missing: integration tests fail, never skip, without their servers.
 */
export function requireBinary(name: string, aptPackage: string): string {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(`${name} not found: apt-get install -y ${aptPackage}`);
}

export interface StartProcessOptions {
  /** Name for messages; default the binary's base name. */
  readonly name?: string;
  readonly cwd?: string;
  /** Environment; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Lines of combined stdout/stderr kept for error messages; default 60. */
  readonly tailLines?: number;
  /** Grace period between SIGTERM and SIGKILL in stop(); default 5 s. */
  readonly killAfterMs?: number;
}

const live = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly command: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly lines: string[] = [];
  private readonly partial: Record<'out' | 'err', string> = { out: '', err: '' };
  private readonly maxLines: number;
  private readonly killAfterMs: number;
  private readonly child: ChildProcess;

  constructor(binary: string, args: readonly string[], options: StartProcessOptions = {}) {
    this.name = options.name ?? binary.split('/').pop() ?? binary;
    this.command = [binary, ...args].join(' ');
    this.maxLines = options.tailLines ?? 60;
    this.killAfterMs = options.killAfterMs ?? 5_000;
    this.child = spawn(binary, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (err) => {
        // ENOENT and the like: there will be no 'close'.
        this.push('err', `spawn failed: ${err.message}\n`);
        if (this.child.pid === undefined) this.finish({ code: null, signal: null }, resolve);
      });
      // 'close' rather than 'exit': all output has been read by then.
      this.child.once('close', (code, signal) => this.finish({ code, signal }, resolve));
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.push('out', chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.push('err', chunk));
    this.pid = this.child.pid ?? -1;
    if (this.child.pid !== undefined) live.add(this);
  }

  private finish(info: ExitInfo, resolve: (info: ExitInfo) => void): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    live.delete(this);
    resolve(info);
  }

  private push(stream: 'out' | 'err', chunk: string): void {
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(stream === 'err' ? `[stderr] ${line}` : line);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  /** How it exited, once it has. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** The last tailLines lines of output; stderr lines prefixed with "[stderr] ". */
  output(): string[] {
    const pending = (['out', 'err'] as const)
      .filter((s) => this.partial[s] !== '')
      .map((s) => (s === 'err' ? `[stderr] ${this.partial[s]}` : this.partial[s]));
    return [...this.lines, ...pending];
  }

  /** The last lines of output under a header naming the command, for error messages. */
  tail(): string {
    const lines = this.output();
    return `--- last ${lines.length} lines of ${this.name} (${this.command}) ---\n${lines.join('\n')}`;
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once it has exited. Idempotent. */
  async stop(): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), this.killAfterMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Immediate SIGKILL (synchronous; for exit handlers). */
  kill(): void {
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.exitInfo) return;
    try {
      this.child.kill(sig);
    } catch {
      // already gone
    }
  }
}

/** Spawns a registered child process with captured output. */
export function startProcess(
  binary: string,
  args: readonly string[],
  options: StartProcessOptions = {},
): ManagedProcess {
  installExitHooks();
  return new ManagedProcess(binary, args, options);
}

/**
 * Runs a command to completion. Rejects with its output tail when it exits non-zero or
 * takes longer than timeoutMs (default 10 min).
 */
export async function runCommand(
  binary: string,
  args: readonly string[],
  options: StartProcessOptions & { timeoutMs?: number } = {},
): Promise<{ output: string; durationMs: number }> {
  const started = Date.now();
  const proc = startProcess(binary, args, { tailLines: 200, ...options });
  const timeoutMs = options.timeoutMs ?? 600_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void proc.stop();
  }, timeoutMs);
  const exit = await proc.exited;
  clearTimeout(timer);
  if (timedOut || exit.code !== 0) {
    const why = timedOut ? `timed out after ${timeoutMs} ms` : `failed (${describeExit(exit)})`;
    throw new Error(`${proc.name} ${why}\n${proc.tail()}`);
  }
  return { output: proc.tail(), durationMs: Date.now() - started };
}

/** Stops every process still running (for afterAll). */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const p of live) p.kill();
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort: a killed server may still be writing
      }
    }
    tempDirs.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      // Keep the default behaviour (exit by that signal) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

const tempDirs = new Set<string>();

/**
 * A fresh directory under the OS temp dir, `promvault-<prefix>-XXXXXX`. Remove it with
 * removeDir; if the process exits first, the exit hook removes it.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  installExitHooks();
  const dir = await mkdtemp(join(tmpdir(), `promvault-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

/** fetch with a timeout, for health checks and admin calls. */
export async function fetchWithTimeout(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Response> {
  return fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(timeoutMs) });
}

/** True when GET url answers with the expected status (default: any 2xx). */
export async function httpOk(url: string, status?: number): Promise<boolean> {
  const res = await fetchWithTimeout(url, {}, 2_000);
  await res.arrayBuffer();
  return status === undefined ? res.ok : res.status === status;
}
