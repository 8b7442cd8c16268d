/**
 * Output conventions: human text on stdout, or with --json one JSON object as the last stdout line.
 * Nothing the process prints carries a secret: redactOutput() puts the secrets redactor in front of
 * stdout and stderr; only the data an export streams to stdout goes around it, byte for byte.
 */
import { InputError, PromvaultError, SourceProbeError } from '../lambdas/core/errors';
import type { Gap, GapPair } from '../lambdas/core/restore/coverage';
import type { UnreadableManifest } from '../lambdas/core/manifest';
import { formatDuration, formatIso } from '../lambdas/core/time';

/**
 * Exit codes of restore, export and verify (and inspect): the run did everything asked; it
 * finished but something was not done (each named in the output); it failed; bad input, nothing done.
 */
export const EXIT = { done: 0, failed: 1, badInput: 2, incomplete: 3 } as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  everything in the requested range was done
  3  the run finished, but something was not done: a gap (part of the range without a committed
     shard), a corrupt or missing shard or manifest, a rejected series; each is named on stderr
     and in --json
  1  the run failed
  2  bad input (a flag, a store that holds no promvault backups): nothing was done`;
import { secrets } from '../lambdas/core/redact';

const writeStdoutUnredacted = process.stdout.write.bind(process.stdout);
let redacting = false;

/** From here on, every string written to stdout or stderr is redacted (user info in URLs, registered secrets). */
export function redactOutput(): void {
  if (redacting) return;
  redacting = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? secrets.text(chunk) : chunk, ...rest)) as typeof stream.write;
  }
}

/** Writes exported data: to stdout unredacted (labels are byte-exact), to a file as is. */
export function writeData(out: NodeJS.WritableStream, text: string): boolean {
  return out === process.stdout ? writeStdoutUnredacted(text) : out.write(text);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(secrets.value(value)) + '\n');
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

/** The JSON `gaps` field: `[start_ms, end_ms]` pairs, one per gap in `gap_details`. */
export function gapPairs(gaps: readonly Gap[]): GapPair[] {
  return gaps.map((g) => [g.start_ms, g.end_ms]);
}

/** Warns on stderr about each gap and unreadable manifest, in readable UTC. */
export function warnIncomplete(gaps: readonly Gap[], unreadable: readonly UnreadableManifest[] = []): void {
  for (const g of gaps) {
    const what = g.selector === '' ? `source ${g.source}` : `source ${g.source} selector ${g.selector}`;
    process.stderr.write(
      `warning: gap: ${what} has no committed shard for [${formatIso(g.start_ms)}, ${formatIso(g.end_ms)}) (${formatDuration(g.end_ms - g.start_ms)}; [${g.start_ms}, ${g.end_ms}] ms)\n`,
    );
  }
  for (const u of unreadable) process.stderr.write(`corrupt manifest ${u.key}, its shard is left out: ${u.error}\n`);
}

/** An error raised after the work started: the run failed (exit 1), whatever its class. */
export class RunFailure {
  constructor(readonly error: unknown) {}
}

/** Runs the work of a command; what it throws means the run failed, not that the input was bad. */
export async function duringRun<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    // Bad input found once the run began (a target that is no receiver) wrote nothing: still exit 2.
    if (err instanceof InputError) throw err;
    throw new RunFailure(err);
  }
}

/** Errors a user can act on print their message alone; anything else keeps its stack for a bug report. */
export function reportError(thrown: unknown, json: boolean): number {
  const err = thrown instanceof RunFailure ? thrown.error : thrown;
  const known = err instanceof PromvaultError;
  const message = secrets.text(err instanceof Error ? err.message : String(err));
  process.stderr.write(`promvault: ${known ? message : ((err as Error)?.stack ?? message)}\n`);
  if (json) printJson({ error: message, error_name: err instanceof Error ? err.name : 'Error' });
  return exitCodeOf(thrown);
}

/**
 * Bad input (2) is what the user can fix in what they typed, found before the work: an
 * InputError, or a source that refused the URL or credentials given. Anything else -- an S3 endpoint that times out, a source that is down, a bug -- is a
 * failure of the run or its environment (1).
 */
export function exitCodeOf(thrown: unknown): number {
  const badInput = thrown instanceof InputError || thrown instanceof SourceProbeError;
  return badInput ? EXIT.badInput : EXIT.failed;
}
