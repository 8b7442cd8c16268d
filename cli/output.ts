/** Output conventions: human text on stdout, or with --json one JSON object as the last stdout line. */
import { PromvaultError } from '../lambdas/core/errors';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Errors a user can act on print their message alone; anything else keeps its stack for a bug report. */
export function reportError(err: unknown, json: boolean): number {
  const known = err instanceof PromvaultError;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`promvault: ${known ? message : ((err as Error)?.stack ?? message)}\n`);
  if (json) printJson({ error: message, error_name: err instanceof Error ? err.name : 'Error' });
  return 2;
}
