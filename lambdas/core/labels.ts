import type { Labels } from './types';

export function labelsEqual(a: Labels, b: Labels): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.name !== b[i]!.name || a[i]!.value !== b[i]!.value) return false;
  }
  return true;
}

/** Prometheus' text form, e.g. `up{instance="a:9100",job="node"}`; for messages and map keys. */
export function formatLabels(labels: Labels): string {
  return labelText(
    labels,
    (v) => JSON.stringify(v),
    (name) => name,
  );
}

/** Label values longer than this many characters are shortened in messages, never in data or keys. */
export const MESSAGE_VALUE_CHARS = 120;

/** A value for a message: a long one keeps its start, an ellipsis and its length in UTF-8 bytes. */
export function elideValue(value: string, quote: (v: string) => string = (v) => v): string {
  if (value.length <= MESSAGE_VALUE_CHARS) return quote(value);
  return `${quote(value.slice(0, MESSAGE_VALUE_CHARS) + '…')} (${Buffer.byteLength(value, 'utf8')} bytes)`;
}

/** formatLabels for messages: a 4 KiB label value is not repeated in full on every failure line. */
export function describeLabels(labels: Labels): string {
  return labelText(
    labels,
    (v) => elideValue(v, JSON.stringify),
    (name) => elideValue(name),
  );
}

/** Shortens each long quoted value in text already formatted, e.g. formatLabels output kept in a report. */
export function elideQuotedValues(text: string): string {
  return text.replace(/"((?:[^"\\]|\\.)*)"/g, (quoted, inner: string) =>
    inner.length <= MESSAGE_VALUE_CHARS ? quoted : elideValue(JSON.parse(quoted) as string, JSON.stringify),
  );
}

function labelText(labels: Labels, value: (v: string) => string, metricName: (v: string) => string): string {
  let name = '';
  const rest: string[] = [];
  for (const l of labels) {
    if (l.name === '__name__') name = metricName(l.value);
    else rest.push(`${l.name}=${value(l.value)}`);
  }
  return `${name}{${rest.join(',')}}`;
}

/** Prometheus' label-set order (labels.Compare): pairwise by name then value, shorter first. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name) return compareStrings(x.name, y.name);
    if (x.value !== y.value) return compareStrings(x.value, y.value);
  }
  return a.length - b.length;
}

/**
 * Go's string order (UTF-8 bytes, i.e. code points). JS `<` compares UTF-16 units, which puts
 * characters above U+FFFF (surrogate pairs) before U+E000–U+FFFF.
 */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/** Moves surrogates (U+D800–U+DFFF) above U+E000–U+FFFF, where their code points sort. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
