/** Replica labels: the labels that tell HA replicas of one source apart, dropped when merging. */
import { InputError } from '../errors';
import { compareStrings } from '../labels';
import type { Labels } from '../types';

/** Prometheus label names (the classic charset: what remote write accepts everywhere). */
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Checks replica label names, in the words of the input they came from (e.g. --replica-label). */
export function validateReplicaLabels(names: readonly string[], what: string): string[] {
  for (const name of names) {
    if (!LABEL_NAME_RE.test(name)) {
      throw new InputError(
        `${what} ${JSON.stringify(name)} is not a label name: use letters, digits and _, not starting with a digit, e.g. prometheus_replica`,
      );
    }
    if (name === '__name__') throw new InputError(`${what} __name__ cannot be a replica label: it is the metric name`);
  }
  return [...new Set(names)];
}

/** The labels without the replica labels: the series as the backup stores it. */
export function dropLabels(labels: Labels, replicaLabels: readonly string[]): Labels {
  if (replicaLabels.length === 0) return labels;
  const kept = labels.filter((l) => !replicaLabels.includes(l.name));
  return kept.length === labels.length ? labels : kept;
}

/**
 * The order in which replicas' series are merged: the labels with every replica label present
 * and empty. Blanking (not dropping) keeps each replica's own label-set order.
 */
export function mergeKey(labels: Labels, replicaLabels: readonly string[]): Labels {
  if (replicaLabels.length === 0) return labels;
  const blanks = [...replicaLabels].sort(compareStrings).map((name) => ({ name, value: '' }));
  const key = [...dropLabels(labels, replicaLabels), ...blanks];
  return key.sort((a, b) => compareStrings(a.name, b.name));
}
