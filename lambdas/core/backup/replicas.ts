/** The reader for a source with HA replicas: merged (the default with two or more) or failover. */
import type { PrometheusReader } from '../ports';
import { defaultReplicaMode, type ReplicaMode } from '../types';

export { defaultReplicaMode };
import { FailoverReader, type FailoverOptions } from './failover';
import { MergeReader, type MergeOptions } from './replica-merge';

export interface ReplicaOptions extends FailoverOptions, MergeOptions {
  /** Default: merge with two or more replicas. */
  readonly mode?: ReplicaMode;
}

export function replicaReader(replicas: readonly PrometheusReader[], options: ReplicaOptions = {}): PrometheusReader {
  const mode = options.mode ?? defaultReplicaMode(replicas.length);
  return mode === 'merge' ? new MergeReader(replicas, options) : new FailoverReader(replicas, options);
}
