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

export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; asUid?: number } = {},
): Promise<CliResult> {
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
  return new Promise((resolve, reject) => {
    const child = spawn(command!, argv, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
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
}
