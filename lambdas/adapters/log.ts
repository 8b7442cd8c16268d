/**
 * Structured logs: one JSON line per event with level, msg, time and the run's context
 * (runId, source, shard). Callers pass only what may be read by anyone with log access;
 * as a second line of defence, fields whose names look like credentials are redacted, and the
 * message and every string in the fields (error texts too) go through the secrets redactor.
 */
import { secrets, type Redactor } from '../core/redact';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogFields {
  readonly runId?: string;
  readonly source?: string;
  readonly shard?: string;
  readonly [field: string]: unknown;
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Receives each line without its newline; default: stdout. */
  readonly sink?: (line: string) => void;
  /** Lines below this level are dropped; default 'info'. */
  readonly level?: LogLevel;
  readonly fields?: LogFields;
  readonly nowMs?: () => number;
  /** Known secret values to take out of every line; default: the process's registry. */
  readonly redactor?: Redactor;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /passw(or)?d|secret|token|authori[sz]ation|credential|api[-_]?key|cookie/i;

export function parseLogLevel(text: string | undefined): LogLevel {
  const t = (text ?? '').toLowerCase();
  return t === 'debug' || t === 'warn' || t === 'error' ? t : 'info';
}

function redactFields(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (depth > 4) return '[nested]';
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELD.test(k) ? '[redacted]' : redactFields(v, depth + 1);
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + '\n'));
  const min = RANK[options.level ?? 'info'];
  const nowMs = options.nowMs ?? Date.now;
  const base = options.fields ?? {};
  const redactor = options.redactor ?? secrets;
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const rest = redactor.value(redactFields({ ...base, ...fields })) as object;
    const line = { level, msg: redactor.text(msg), time: new Date(nowMs()).toISOString(), ...rest };
    sink(JSON.stringify(line));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, sink, fields: { ...base, ...fields } }),
  };
}
