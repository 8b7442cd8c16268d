/** Runs the real `promvault` command line in a child process, as a user would. */
import { spawn } from 'node:child_process';
import path from 'node:path';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line parsed as JSON, when there is one. */
  readonly json: Record<string, unknown> | undefined;
}

const BIN = path.resolve(__dirname, '../../bin/promvault.js');

export interface CliOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** SIGKILL after this long; default 240 s. */
  readonly timeoutMs?: number;
  readonly asUid?: number;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

/** A running CLI: its result once it exits, and a way to SIGKILL it at a moment of the test's choosing. */
export interface RunningCli {
  readonly result: Promise<CliResult>;
  /** SIGKILL now (no-op once it has exited). */
  kill(): void;
  /** Whether kill() was called before it exited. */
  readonly killed: boolean;
}

export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  // setpriv runs the command as another (non-root) user, e.g. to prove that reading needs no write access.
  const [command, ...argv] =
    options.asUid === undefined
      ? [process.execPath, BIN, ...args]
      : [
          'setpriv',
          `--reuid=${options.asUid}`,
          `--regid=${options.asUid}`,
          '--clear-groups',
          process.execPath,
          BIN,
          ...args,
        ];
  const child = spawn(command!, argv, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  let killed = false;
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      exited = true;
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let json: Record<string, unknown> | undefined;
      try {
        json = last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
  return {
    result,
    kill() {
      if (exited) return;
      killed = true;
      child.kill('SIGKILL');
    },
    get killed() {
      return killed;
    },
  };
}
