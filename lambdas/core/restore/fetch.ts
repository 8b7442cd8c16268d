/**
 * fetch + verify: stream a shard object and prove it is the one its manifest describes before
 * any sample of it is decoded. Objects up to `bufferLimit` are read once and kept in memory;
 * larger ones are hashed in a first pass and streamed again, so memory stays bounded.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../ports';
import type { ShardManifest } from '../shard';
import { CorruptShardError } from '../errors';

export const DEFAULT_BUFFER_LIMIT = 64 * 1024 * 1024;

/** How to repair a shard whose object is damaged or gone. */
export const SHARD_REPAIR =
  'restore it from an older object version, or re-run the backup of that window with --force while the source still holds it';

export async function fetchVerified(
  store: ObjectStore,
  manifest: ShardManifest,
  bufferLimit = DEFAULT_BUFFER_LIMIT,
): Promise<AsyncIterable<Uint8Array>> {
  const key = manifest.object_key;
  const hash = createHash('sha256');
  const kept: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of store.get(key)) {
    hash.update(chunk);
    size += chunk.length;
    if (manifest.stored_bytes <= bufferLimit) kept.push(chunk);
  }
  const sha256 = hash.digest('hex');
  if (size !== manifest.stored_bytes || sha256 !== manifest.sha256) {
    throw new CorruptShardError(
      `shard ${key} in ${store.location} does not match its manifest: ${size} bytes with SHA-256 ${sha256.slice(0, 16)}…, expected ${manifest.stored_bytes} bytes with ${manifest.sha256.slice(0, 16)}… (${SHARD_REPAIR})`,
    );
  }
  if (manifest.stored_bytes <= bufferLimit) return fromChunks(kept);
  return rehashing(store, manifest);
}

async function* fromChunks(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** Second pass of a large object: hash again, so bytes changed between the passes are caught at the end. */
async function* rehashing(store: ObjectStore, manifest: ShardManifest): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  for await (const chunk of store.get(manifest.object_key)) {
    hash.update(chunk);
    yield chunk;
  }
  if (hash.digest('hex') !== manifest.sha256) {
    throw new CorruptShardError(`shard ${manifest.object_key} in ${store.location} changed while it was being read`);
  }
}
