/**
 * The small JSON objects the state machines pass by reference: plans, per-shard restore
 * results and reports. Keys live here so every handler agrees on them.
 */
import { createHash } from 'node:crypto';
import { CorruptShardError } from '../core/errors';
import type { ObjectStore } from '../core/ports';
import type { HttpCredentials, SecretsProvider } from '../adapters/secrets';
import type { RequestSigner } from '../adapters/http-auth';
import type { SigV4Settings } from '../adapters/sigv4';
import type { Logger } from '../adapters/log';
import type { RestoreShardTask, RuntimeConfig } from './contracts';
import { readIdOf } from '../core/restore/report';

export function backupPlanKey(source: string, runId: string): string {
  return `plans/${source}/${runId}.json`;
}

export function restorePlanKey(runId: string): string {
  return `restores/${runId}/plan.json`;
}

export function restoreResultsPrefix(runId: string): string {
  return `restores/${runId}/results/`;
}

/** Where a read's record goes; `readId` is restoreReadId of its task (the manifest key for most). */
export function restoreResultKey(runId: string, readId: string): string {
  return `${restoreResultsPrefix(runId)}${sha256Hex(readId)}.json`;
}

/**
 * Which read of a shard a restore task is: its manifest key, or, for a later read of a shard
 * read once per part (coverage.ts planReads), that key with `#<part start>`.
 */
export function restoreReadId(task: Pick<RestoreShardTask, 'manifestKey' | 'slice'>): string {
  const slice = task.slice;
  return slice === undefined || slice.countOutside !== undefined
    ? task.manifestKey
    : readIdOf(task.manifestKey, slice.part.startMs);
}

/** The plan's gaps and unreadable manifests, which no shard task carries, for Report. */
export function restoreCoverageKey(runId: string): string {
  return `restores/${runId}/coverage.json`;
}

export function restoreReportKey(runId: string): string {
  return `restores/${runId}/report.json`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function putJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(value) + '\n');
  await store.put(
    key,
    (async function* () {
      yield bytes;
    })(),
  );
}

/** Reads a JSON object the handlers wrote; rejects with ObjectNotFoundError when absent. */
export async function getJson(store: ObjectStore, key: string): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  for await (const c of store.get(key)) chunks.push(c);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new CorruptShardError(`${key} in ${store.location} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** A plan file: a JSON array whose items `validate` accepts; errors name the item. */
export async function readPlan<T>(store: ObjectStore, key: string, validate: (item: unknown) => T): Promise<T[]> {
  const doc = await getJson(store, key);
  if (!Array.isArray(doc)) throw new CorruptShardError(`plan ${key} in ${store.location} is not a JSON array`);
  return doc.map((item, i) => {
    try {
      return validate(item);
    } catch (err) {
      throw new CorruptShardError(`plan ${key} in ${store.location}: item ${i} is invalid: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
}

/**
 * Credentials for a restore target. The configured secret is meant for the configured target:
 * it is sent only to that origin (or to any target when none is configured), never to a URL
 * someone typed into a restore input.
 */
export async function targetCredentials(
  config: RuntimeConfig,
  target: string,
  secrets: SecretsProvider,
  log: Logger,
): Promise<HttpCredentials | undefined> {
  const name = config.restore.targetSecretName;
  if (name === undefined) return undefined;
  const configured = config.restore.targetUrl;
  if (configured !== undefined && new URL(configured).origin !== new URL(target).origin) {
    log.warn('target differs from the configured restore.targetUrl: sending no credentials to it', { target });
    return undefined;
  }
  return secrets.credentials(name);
}

/**
 * The signer for a restore target when restore.sigv4 is configured: like the secret, only for the
 * configured target's origin (a signed request carries the role's session token).
 */
export function targetSigner(
  config: RuntimeConfig,
  target: string,
  signer: (settings: SigV4Settings) => RequestSigner,
  log: Logger,
): RequestSigner | undefined {
  const { sigv4, targetUrl } = config.restore;
  if (sigv4 === undefined) return undefined;
  if (targetUrl !== undefined && new URL(targetUrl).origin !== new URL(target).origin) {
    log.warn('target differs from the configured restore.targetUrl: not signing requests to it', { target });
    return undefined;
  }
  return signer(sigv4);
}

/** `credentials` with `signer` added, when there is one. */
export function withSigner(
  credentials: HttpCredentials | undefined,
  signer: RequestSigner | undefined,
): HttpCredentials | undefined {
  return signer === undefined ? credentials : { ...credentials, signer };
}
