/**
 * The Prometheus text exposition format 0.0.4, as /federate returns it by default, parsed the
 * way Prometheus' own parser (prometheus/common expfmt) reads it:
 *
 *   # HELP name docstring with \\ and \n escapes
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value with \\, \" and \n escapes",} value [timestamp-ms]
 *
 * Blanks are spaces and tabs; other `#` lines are comments; a label set may end with a comma.
 * Values parse as Go's strconv.ParseFloat does for decimal text: correctly rounded, NaN, ±Inf
 * in any letter case, and an out-of-range decimal is an error. "NaN" becomes Go's NaN bit
 * pattern (0x7ff8000000000001), the value a Prometheus that parses the same text stores, so
 * captured samples compare bit for bit with the source.
 */
import { PermanentError } from '../errors';
import { compareStrings } from '../labels';
import type { Label, Labels, MetricMetadata, MetricType } from '../types';

/** The text is not the exposition format; the message names the line and what is wrong. */
export class ExpositionParseError extends PermanentError {}

/** One line per sample, in the order of the text; values and timestamps are columns (NaN bits survive in a Float64Array). */
export interface ParsedExposition {
  /** Labels of each sample, sorted by name, `__name__` included. */
  readonly labels: Labels[];
  readonly values: Float64Array;
  /** Milliseconds since the epoch; NaN where the line had no timestamp. */
  readonly timestamps: Float64Array;
  /** One entry per metric family with a `# TYPE` or `# HELP` line, in order of first mention. */
  readonly metadata: MetricMetadata[];
}

/** Go's math.NaN(), which strconv.ParseFloat returns for "NaN". */
export const GO_NAN_BITS = 0x7ff8000000000001n;

const METRIC_NAME = /^[A-Za-z_:][A-Za-z0-9_:]*$/;
const LABEL_START = /[A-Za-z_]/;
const LABEL_CHAR = /[A-Za-z0-9_]/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INF = /^[+-]?inf(?:inity)?$/i;
const TIMESTAMP = /^[+-]?\d+$/;
const TEXT_TYPES: Readonly<Record<string, MetricType>> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  summary: 'summary',
  untyped: 'unknown',
};

/** Parses one float as Go's ParseFloat does, or undefined when the text is not one. */
export function parseGoFloat(text: string): number | undefined {
  if (DECIMAL.test(text)) {
    const v = Number(text);
    // Go reports a finite decimal beyond the float64 range as an error, not as ±Inf.
    return Number.isFinite(v) ? v : undefined;
  }
  if (INF.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(text)) return NaN;
  return undefined;
}

class Builder {
  private readonly labels: Labels[] = [];
  private values = new Float64Array(256);
  private valueBits = new BigUint64Array(this.values.buffer);
  private timestamps = new Float64Array(256);
  private readonly families = new Map<string, { type?: MetricType; help?: string }>();

  add(labels: Labels, value: number, timestampMs: number): void {
    const i = this.labels.length;
    if (i === this.values.length) this.grow();
    this.labels.push(labels);
    if (Number.isNaN(value)) this.valueBits[i] = GO_NAN_BITS;
    else this.values[i] = value;
    this.timestamps[i] = timestampMs;
  }

  private grow(): void {
    const values = new Float64Array(this.values.length * 2);
    values.set(this.values);
    const timestamps = new Float64Array(this.timestamps.length * 2);
    timestamps.set(this.timestamps);
    this.values = values;
    this.valueBits = new BigUint64Array(values.buffer);
    this.timestamps = timestamps;
  }

  /** False when the family already has this kind of line: Prometheus rejects a second one. */
  meta(name: string, kind: 'type' | 'help', value: string): boolean {
    let family = this.families.get(name);
    if (family === undefined) this.families.set(name, (family = {}));
    if (family[kind] !== undefined) return false;
    if (kind === 'type') family.type = value as MetricType;
    else family.help = value;
    return true;
  }

  build(): ParsedExposition {
    const n = this.labels.length;
    return {
      labels: this.labels,
      values: this.values.slice(0, n),
      timestamps: this.timestamps.slice(0, n),
      metadata: [...this.families].map(([metricFamilyName, f]) => ({
        metricFamilyName,
        type: f.type ?? 'unknown',
        help: f.help ?? '',
        unit: '',
      })),
    };
  }
}

class LineParser {
  private pos = 0;

  constructor(
    private readonly line: string,
    private readonly lineNo: number,
  ) {}

  fail(what: string): never {
    const shown = this.line.length > 120 ? `${this.line.slice(0, 120)}…` : this.line;
    throw new ExpositionParseError(
      `exposition text line ${this.lineNo} (${JSON.stringify(shown)}), column ${this.pos + 1}: ${what}`,
    );
  }

  private skipBlanks(): void {
    while (this.line[this.pos] === ' ' || this.line[this.pos] === '\t') this.pos++;
  }

  private atEnd(): boolean {
    return this.pos >= this.line.length;
  }

  /** Up to the next blank or the end of the line. */
  private token(): string {
    const start = this.pos;
    while (!this.atEnd() && this.line[this.pos] !== ' ' && this.line[this.pos] !== '\t') this.pos++;
    return this.line.slice(start, this.pos);
  }

  parse(out: Builder): void {
    this.skipBlanks();
    if (this.atEnd()) return;
    if (this.line[this.pos] === '#') this.parseComment(out);
    else this.parseSample(out);
  }

  private parseComment(out: Builder): void {
    this.pos++; // '#'
    this.skipBlanks();
    const keyword = this.token();
    if (keyword !== 'HELP' && keyword !== 'TYPE') return;
    this.skipBlanks();
    if (this.atEnd()) return; // "# HELP" alone is a comment, as in Prometheus
    const nameAt = this.pos;
    const name = this.token();
    if (!METRIC_NAME.test(name)) {
      this.pos = nameAt;
      this.fail(`${JSON.stringify(name)} is not a metric name`);
    }
    this.skipBlanks();
    if (this.atEnd()) return; // a name without text is a comment too
    if (keyword === 'HELP') {
      if (!out.meta(name, 'help', this.helpText())) this.fail(`second HELP line for metric ${name}`);
      return;
    }
    const text = this.token();
    const type = TEXT_TYPES[text.toLowerCase()];
    if (type === undefined) this.fail(`unknown metric type ${JSON.stringify(text)}`);
    this.skipBlanks();
    if (!this.atEnd()) this.fail('unexpected text after the metric type');
    if (!out.meta(name, 'type', type)) this.fail(`second TYPE line for metric ${name}`);
  }

  private helpText(): string {
    let text = '';
    for (; !this.atEnd(); this.pos++) {
      const c = this.line[this.pos]!;
      if (c !== '\\') {
        text += c;
        continue;
      }
      const next = this.line[++this.pos];
      if (next === 'n') text += '\n';
      else if (next === '\\') text += '\\';
      else this.fail(`invalid escape sequence ${JSON.stringify('\\' + (next ?? ''))} in HELP (only \\\\ and \\n)`);
    }
    return text;
  }

  private parseSample(out: Builder): void {
    const nameStart = this.pos;
    while (!this.atEnd() && /[A-Za-z0-9_:]/.test(this.line[this.pos]!)) this.pos++;
    const name = this.line.slice(nameStart, this.pos);
    if (!METRIC_NAME.test(name)) {
      this.pos = nameStart;
      this.fail('expected a metric name');
    }
    const labels: Label[] = [{ name: '__name__', value: name }];
    this.skipBlanks();
    if (this.line[this.pos] === '{') {
      this.pos++;
      this.parseLabels(labels);
      this.skipBlanks();
    }
    const valueAt = this.pos;
    const valueText = this.token();
    if (valueText === '') this.fail('expected a value');
    const value = parseGoFloat(valueText);
    if (value === undefined) {
      this.pos = valueAt;
      this.fail(`${JSON.stringify(valueText)} is not a float value`);
    }
    this.skipBlanks();
    let timestampMs = NaN;
    if (!this.atEnd()) {
      const tsAt = this.pos;
      const tsText = this.token();
      const ts = Number(tsText);
      if (!TIMESTAMP.test(tsText) || !Number.isSafeInteger(ts)) {
        this.pos = tsAt;
        this.fail(`${JSON.stringify(tsText)} is not a timestamp in milliseconds`);
      }
      timestampMs = ts;
      this.skipBlanks();
      if (!this.atEnd()) this.fail('unexpected text after the timestamp');
    }
    labels.sort((a, b) => compareStrings(a.name, b.name));
    out.add(labels, value, timestampMs);
  }

  private parseLabels(labels: Label[]): void {
    for (;;) {
      this.skipBlanks();
      if (this.line[this.pos] === '}') {
        this.pos++;
        return;
      }
      const nameStart = this.pos;
      if (this.atEnd() || !LABEL_START.test(this.line[this.pos]!)) this.fail("expected a label name or '}'");
      while (!this.atEnd() && LABEL_CHAR.test(this.line[this.pos]!)) this.pos++;
      const name = this.line.slice(nameStart, this.pos);
      if (name === '__name__') this.fail('label name __name__ is reserved');
      if (labels.some((l) => l.name === name)) this.fail(`label ${name} appears twice`);
      this.skipBlanks();
      if (this.line[this.pos] !== '=') this.fail(`expected '=' after label name ${name}`);
      this.pos++;
      this.skipBlanks();
      if (this.line[this.pos] !== '"') this.fail(`expected '"' to open the value of label ${name}`);
      this.pos++;
      labels.push({ name, value: this.labelValue() });
      this.skipBlanks();
      const c = this.line[this.pos];
      if (c === ',') this.pos++;
      else if (c !== '}') this.fail("expected ',' or '}' after a label value");
    }
  }

  private labelValue(): string {
    let value = '';
    for (;;) {
      if (this.atEnd()) this.fail("label value is not closed with '\"'");
      const c = this.line[this.pos++]!;
      if (c === '"') return value;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const next = this.line[this.pos++];
      if (next === '\\') value += '\\';
      else if (next === '"') value += '"';
      else if (next === 'n') value += '\n';
      else {
        this.pos--;
        this.fail(
          `invalid escape sequence ${JSON.stringify('\\' + (next ?? ''))} in a label value (only \\\\, \\" and \\n)`,
        );
      }
    }
  }
}

/** Parses a whole exposition text; the first malformed line fails it with ExpositionParseError. */
export function parseExposition(text: string): ParsedExposition {
  const out = new Builder();
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    new LineParser(line, lineNo).parse(out);
  }
  return out.build();
}
