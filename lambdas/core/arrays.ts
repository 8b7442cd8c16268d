/**
 * A new empty array already of V8's object elements kind, as it will be once it holds labels,
 * strings or byte arrays. A plain `[]` starts as a small-integer array: optimised code that
 * has only seen filled arrays deoptimises (and is compiled again) when it meets one, once per
 * shard decoded (docs/BENCHMARKS.md, "V8's compile time, a fixed cost of every cold run").
 */
export function emptyObjectArray<T extends object | string>(): T[] {
  const array: unknown[] = [null];
  array.length = 0;
  return array as T[];
}
