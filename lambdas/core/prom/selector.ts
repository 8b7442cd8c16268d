/**
 * PromQL series selectors: `metric`, `metric{...}`, `{...}`, '' (everything).
 * Matchers: label op string, op one of = != =~ !~, strings in "double" or 'single' quotes with
 * Go escapes or in `backticks` (raw); whitespace anywhere between tokens; a trailing comma.
 * Quoted names as Prometheus 3 allows them also parse: {"my.metric", "label.name"="v"}.
 */
import { InputError } from '../errors';
import type { LabelMatcher, Labels, MatcherType } from '../types';
import { compileAnchoredRe2, Re2SyntaxError } from './re2';

const EXAMPLE = 'e.g. up{job="api",instance=~"10\\\\..*"}';
const METRIC_START = /[A-Za-z_:]/;
const METRIC_CHAR = /[A-Za-z0-9_:]/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TYPE_ORDER: readonly MatcherType[] = ['=', '!=', '=~', '!~'];

class SelectorParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  fail(what: string, at = this.pos): never {
    const near = at >= this.text.length ? 'at the end' : `at ${JSON.stringify(this.text.slice(at, at + 12))}`;
    throw new InputError(
      `invalid selector ${JSON.stringify(this.text)}: position ${at + 1} (${near}): ${what}; valid selectors look like ${EXAMPLE}, {job="api"} or up`,
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  parse(): LabelMatcher[] {
    const matchers: LabelMatcher[] = [];
    this.skipSpace();
    let metric: string | undefined;
    let metricAt = 0;
    const c = this.peek();
    if (c === undefined) return matchers;
    if (METRIC_START.test(c)) {
      metricAt = this.pos;
      metric = this.readWhile(METRIC_CHAR);
      this.skipSpace();
    } else if (c !== '{') {
      this.fail(`expected a metric name or '{' but found ${JSON.stringify(c)}`);
    }
    if (this.peek() === '{') {
      this.pos++;
      this.readMatchers(matchers);
    }
    this.skipSpace();
    if (this.pos < this.text.length) {
      const rest = this.text[this.pos]!;
      this.fail(
        rest === '['
          ? 'range selectors ([5m]) are not part of a series selector'
          : `unexpected ${JSON.stringify(rest)} after the selector`,
      );
    }
    if (metric !== undefined) {
      if (matchers.some((m) => m.name === '__name__')) this.fail('the metric name is set twice', metricAt);
      matchers.unshift({ type: '=', name: '__name__', value: metric });
    }
    return matchers;
  }

  private readWhile(re: RegExp): string {
    const start = this.pos;
    while (this.pos < this.text.length && re.test(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private readMatchers(out: LabelMatcher[]): void {
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c === undefined) this.fail("missing closing '}'");
      if (c === '}') {
        this.pos++;
        return;
      }
      const nameAt = this.pos;
      let name: string;
      let quotedName = false;
      if (c === '"' || c === "'" || c === '`') {
        name = this.readString();
        quotedName = true;
      } else if (/[A-Za-z_]/.test(c)) {
        name = this.readWhile(/[A-Za-z0-9_]/);
      } else {
        this.fail(`expected a label name but found ${JSON.stringify(c)}`);
      }
      this.skipSpace();
      const next = this.peek();
      if (quotedName && (next === ',' || next === '}')) {
        // {"metric.name"}: a quoted metric name.
        out.push({ type: '=', name: '__name__', value: name });
      } else {
        if (name === '') this.fail('empty label name', nameAt);
        const opAt = this.pos;
        const type = this.readOperator();
        if (type === undefined) {
          this.fail(
            next === undefined
              ? `missing operator after label ${name}`
              : `expected one of = != =~ !~ after label ${name} but found ${JSON.stringify(next)}`,
            opAt,
          );
        }
        this.skipSpace();
        const q = this.peek();
        if (q !== '"' && q !== "'" && q !== '`') {
          this.fail(
            q === undefined
              ? `missing quoted value after ${name}${type}`
              : `expected a quoted value after ${name}${type} but found ${JSON.stringify(q)}`,
          );
        }
        const valueAt = this.pos;
        const value = this.readString();
        if (type === '=~' || type === '!~') {
          try {
            compileAnchoredRe2(value);
          } catch (err) {
            if (!(err instanceof Re2SyntaxError)) throw err;
            this.fail(`invalid regular expression ${JSON.stringify(value)}: ${err.message}`, valueAt);
          }
        }
        out.push({ type, name, value });
      }
      this.skipSpace();
      const sep = this.peek();
      if (sep === ',') {
        this.pos++;
        continue;
      }
      if (sep === '}') continue;
      this.fail(sep === undefined ? "missing closing '}'" : `expected ',' or '}' but found ${JSON.stringify(sep)}`);
    }
  }

  private readOperator(): MatcherType | undefined {
    const two = this.text.slice(this.pos, this.pos + 2);
    if (two === '!=' || two === '=~' || two === '!~') {
      this.pos += 2;
      return two;
    }
    if (two[0] === '=') {
      this.pos += 1;
      return '=';
    }
    return undefined;
  }

  /** A quoted string at pos; returns its value. */
  private readString(): string {
    const start = this.pos;
    const quote = this.text[this.pos++]!;
    if (quote === '`') {
      const end = this.text.indexOf('`', this.pos);
      if (end < 0) this.fail('unterminated `raw string`', start);
      const raw = this.text.slice(this.pos, end);
      this.pos = end + 1;
      // Go drops carriage returns from raw strings.
      return raw.replace(/\r/g, '');
    }
    const bytes: number[] = [];
    const pushText = (s: string) => {
      for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
    };
    for (;;) {
      if (this.pos >= this.text.length) this.fail(`unterminated string (missing closing ${quote})`, start);
      const cp = this.text.codePointAt(this.pos)!;
      const ch = String.fromCodePoint(cp);
      if (ch === quote) {
        this.pos++;
        break;
      }
      if (ch === '\n') this.fail('newline inside a quoted string (use \\n or a `raw string`)');
      if (ch !== '\\') {
        pushText(ch);
        this.pos += ch.length;
        continue;
      }
      const escAt = this.pos;
      const e = this.text[this.pos + 1];
      this.pos += 2;
      const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
      if (e !== undefined && simple[e] !== undefined) {
        bytes.push(simple[e]!);
      } else if (e === quote) {
        bytes.push(e.charCodeAt(0));
      } else if (e === 'x') {
        bytes.push(this.readHex(2, escAt));
      } else if (e === 'u' || e === 'U') {
        const v = this.readHex(e === 'u' ? 4 : 8, escAt);
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
          this.fail(`escape ${this.text.slice(escAt, this.pos)} is not a valid Unicode code point`, escAt);
        pushText(String.fromCodePoint(v));
      } else if (e !== undefined && e >= '0' && e <= '7') {
        const digits = this.text.slice(escAt + 1, escAt + 4);
        if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) > 255) {
          this.fail(`octal escape needs three digits 000-377, got \\${digits}`, escAt);
        }
        bytes.push(parseInt(digits, 8));
        this.pos = escAt + 4;
      } else {
        this.fail(
          `unknown escape sequence \\${e ?? ''} (valid: \\a \\b \\f \\n \\r \\t \\v \\\\ \\${quote} \\xHH \\ooo \\uHHHH \\UHHHHHHHH)`,
          escAt,
        );
      }
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    } catch {
      return this.fail('the escapes in this string do not form valid UTF-8', start);
    }
  }

  private readHex(n: number, escAt: number): number {
    const digits = this.text.slice(this.pos, this.pos + n);
    if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(digits)) {
      this.fail(`escape \\${this.text[escAt + 1]} needs ${n} hex digits`, escAt);
    }
    this.pos += n;
    return parseInt(digits, 16);
  }
}

/**
 * Parses a PromQL series selector into matchers ([] for '' or '{}'). A metric name becomes a
 * leading __name__= matcher. Throws InputError naming the position and what is wrong.
 */
export function parseSelector(text: string): LabelMatcher[] {
  return new SelectorParser(text).parse();
}

function compareMatchers(a: LabelMatcher, b: LabelMatcher): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.type !== b.type) return TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type);
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  return 0;
}

/**
 * The canonical text of matchers: sorted by name, type (= != =~ !~) and value, duplicates
 * dropped, every matcher inside braces, values double-quoted: {__name__="up",job=~"a|b"}.
 * '' when there are none. parseSelector(formatSelector(m)) gives the sorted matchers back.
 */
export function formatSelector(matchers: readonly LabelMatcher[]): string {
  if (matchers.length === 0) return '';
  const sorted = [...matchers].sort(compareMatchers);
  const parts: string[] = [];
  let prev: LabelMatcher | undefined;
  for (const m of sorted) {
    if (prev && compareMatchers(prev, m) === 0) continue;
    prev = m;
    const name = LABEL_NAME.test(m.name) ? m.name : JSON.stringify(m.name);
    parts.push(`${name}${m.type}${JSON.stringify(m.value)}`);
  }
  return `{${parts.join(',')}}`;
}

const regexCache = new Map<string, RegExp>();

function anchored(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = compileAnchoredRe2(pattern);
    } catch (err) {
      throw new InputError(`invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
    }
    if (regexCache.size >= 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

/** Whether one matcher accepts a label value ('' for a missing label), as Prometheus decides. */
export function matchValue(m: LabelMatcher, value: string): boolean {
  switch (m.type) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return anchored(m.value).test(value);
    case '!~':
      return !anchored(m.value).test(value);
  }
}

/** Whether a series matches all matchers (Prometheus semantics: a missing label is ''). */
export function matchLabels(labels: Labels, matchers: readonly LabelMatcher[]): boolean {
  for (const m of matchers) {
    let value = '';
    for (const l of labels) {
      if (l.name === m.name) {
        value = l.value;
        break;
      }
    }
    if (!matchValue(m, value)) return false;
  }
  return true;
}
