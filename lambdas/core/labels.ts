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
  let name = '';
  const rest: string[] = [];
  for (const l of labels) {
    if (l.name === '__name__') name = l.value;
    else rest.push(`${l.name}=${JSON.stringify(l.value)}`);
  }
  return `${name}{${rest.join(',')}}`;
}

/** Prometheus' label-set order (labels.Compare): pairwise by name then value, shorter first. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name) return x.name < y.name ? -1 : 1;
    if (x.value !== y.value) return x.value < y.value ? -1 : 1;
  }
  return a.length - b.length;
}
