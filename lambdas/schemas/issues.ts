/**
 * The one place a zod issue becomes a message: `<subject>: <problem>`, where the subject names
 * the input the way its user wrote it (`cdk.json context promvault.sources[0].shardLength`,
 * `invalid input: field endMs`, `--target`) and the problem says the bad value and the fix.
 * Values are shown shortened and with any URL user info replaced by `***`: an error text is
 * logged, printed and kept in state-machine history, so it must never carry a password.
 */
import { z } from 'zod';

/** Names the input at `path` (a zod issue path) for the reader of the message. */
export type Subject = (path: readonly PropertyKey[]) => string;

/** A value longer than this is cut in messages: a 4 KiB label value helps no one. */
const MAX_SHOWN_CHARS = 80;

/** `scheme://anything@` up to the last `@` before a space or quote: the user info of a URL. */
const USER_INFO = /([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s"]*@/g;

/** The text with the user info of every URL in it replaced by `***`. */
export function redactUserInfo(text: string): string {
  return text.replace(USER_INFO, '$1***@');
}

/** A value as a message shows it: JSON, user info redacted, long values cut. */
export function show(value: unknown): string {
  const json = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  const text = redactUserInfo(json);
  return text.length <= MAX_SHOWN_CHARS ? text : `${text.slice(0, MAX_SHOWN_CHARS)}… (${text.length} characters)`;
}

/** `a.b[0].c`, after `root` when given. */
export function keyPath(path: readonly PropertyKey[], root?: string): string {
  let out = root ?? '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object ({...})',
  array: 'a list ([...])',
};

/**
 * The problem text of an issue that no schema worded itself (a missing key, a wrong type):
 * every schema in this module words its own checks, this covers zod's built-in ones.
 */
function defaultProblem(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return issue.input === undefined
        ? `is missing: expected ${expected}`
        : `expected ${expected}, got ${show(issue.input)}`;
    }
    case 'unrecognized_keys':
      return `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: check the spelling`;
    case 'invalid_value':
      return `${show(issue.input)} is not one of ${issue.values.map(String).join(', ')}`;
    default:
      return undefined;
  }
}

/** The messages of all issues, one a line, each naming its input. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], subject: Subject): string {
  return issues.map((issue) => `${subject(issue.path)}: ${issue.message}`).join('\n');
}

/**
 * Parses `value` with `schema`; on failure throws `toError(message)` with every issue named.
 * The one entry point of this module: callers choose the subject and the error class.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  subject: Subject,
  toError: (message: string) => Error,
): z.output<S> {
  const result = schema.safeParse(value, { error: defaultProblem });
  if (result.success) return result.data;
  throw toError(formatIssues(result.error.issues, subject));
}
