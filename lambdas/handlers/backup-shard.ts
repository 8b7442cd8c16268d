/**
 * BackupShard: BackupShardTask → BackupShardOutput. Pulls one window from the source's replicas,
 * merged or with failover (credentials from Secrets Manager, cached per container), stores the
 * object and then its manifest. A shard already committed is skipped unless forced.
 */
import middy from '@middy/core';
import { backupShard } from '../core/backup/shard';
import { replicaReader } from '../core/backup/replicas';
import { formatIso } from '../core/time';
import { findSource } from '../adapters/runtime-config';
import { refresher } from '../adapters/secrets';
import { HANDLERS, type BackupShardOutput, type BackupShardTask } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { withSigner } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext, type RunOptions } from './middleware';
import { validateBackupShardTask } from '../schemas/tasks';
import { sourceUrls } from '../schemas/runtime-config';

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(
    task: BackupShardTask,
    context: HandlerContext,
    { signal }: RunOptions,
  ): Promise<BackupShardOutput> {
    const config = deps.config();
    const source = findSource(config, task.source);
    const credentials = withSigner(
      source.credentialsSecretName ? await deps.secrets.credentials(source.credentialsSecretName) : undefined,
      source.sigv4 && deps.signer(source.sigv4),
    );
    const reader = replicaReader(
      sourceUrls(source).map((url) =>
        deps.reader(url, credentials, credentials && refresher(deps.secrets, source.credentialsSecretName), {
          mode: source.mode,
          maxSamplesPerQuery: source.maxSamplesPerQuery,
        }),
      ),
      {
        mode: source.replicaMode,
        replicaLabels: source.replicaLabels,
        onFailover: (endpoint, err) =>
          context.log.warn('replica unavailable, failing over', { endpoint, error: err.name, message: err.message }),
        onSkip: (endpoint, reason) =>
          context.log.warn('replica cannot serve the window, skipped', { endpoint, reason }),
        onReplicaFailed: (endpoint, err, willRetry) =>
          context.log.warn(willRetry ? 'replica failed, retrying' : 'replica failed, merging without it', {
            endpoint,
            error: err.name,
            message: err.message,
          }),
      },
    );
    const ref = { source: source.name, window: { startMs: task.startMs, endMs: task.endMs }, selector: task.selector };
    const result = await backupShard({ reader, store: deps.store(config), nowMs: deps.nowMs }, ref, {
      force: task.force,
      signal,
    });
    const m = result.manifest;
    if (m.metadata_missing) {
      context.log.warn('metric metadata not read: shard committed as incomplete, pulled again next run', {
        key: m.object_key,
        reason: m.metadata_missing,
      });
    }
    return {
      startMs: task.startMs,
      endMs: task.endMs,
      status: result.status,
      samples: m.samples,
      storedBytes: m.stored_bytes,
      key: m.object_key,
    };
  }

  return middy(run, timeoutGuard(HANDLERS.backupShard, deps)).use(
    commonMiddleware(HANDLERS.backupShard, deps, validateBackupShardTask, (t) => ({
      source: t.source,
      shard: `${formatIso(t.startMs)}/${formatIso(t.endMs)}${t.selector ? ` ${t.selector}` : ''}`,
    })),
  );
}

export const handler = createHandler();
