/**
 * store object: encode a shard's pieces and put the object; the manifest that describes it is
 * returned, not written (writing it is the caller's commit).
 */
import { encodeShard, SHARD_CODEC } from '../format';
import type { ObjectStore } from '../ports';
import { FORMAT_VERSION, type ShardManifest, type ShardRef } from '../shard';
import type { MetricMetadata, SeriesPiece } from '../types';

export interface ShardWrite {
  readonly ref: ShardRef;
  readonly objectKey: string;
  readonly pieces: Iterable<SeriesPiece> | AsyncIterable<SeriesPiece>;
  readonly pulledFrom: string;
  /** Asked once every piece is stored: a read's outcome (missing replicas) is known only then. */
  readonly complete: () => boolean;
  readonly createdAtMs: number;
  /**
   * The source's metric metadata (every family it knows, e.g. /api/v1/metadata or a federate
   * capture's # TYPE/# HELP): the object keeps that of the families its series belong to.
   */
  readonly metadata?: readonly MetricMetadata[];
}

/** Encodes and stores a shard object and returns its manifest; writes no manifest. */
export async function storeShardObject(store: ObjectStore, w: ShardWrite): Promise<ShardManifest> {
  const encoded = encodeShard(w.pieces, { metadata: w.metadata });
  const put = await store.put(w.objectKey, encoded.body);
  const stats = encoded.stats();
  return {
    format_version: FORMAT_VERSION,
    source: w.ref.source,
    start_ms: w.ref.window.startMs,
    end_ms: w.ref.window.endMs,
    selector: w.ref.selector,
    object_key: w.objectKey,
    series: stats.series,
    samples: stats.samples,
    min_ts: stats.samples > 0 ? stats.minTs : null,
    max_ts: stats.samples > 0 ? stats.maxTs : null,
    raw_bytes: stats.rawBytes,
    stored_bytes: put.size,
    codec: SHARD_CODEC,
    sha256: put.sha256,
    complete: w.complete(),
    created_at: new Date(w.createdAtMs).toISOString(),
    pulled_from: w.pulledFrom,
    ...(stats.metadataFamilies > 0 ? { metadata_families: stats.metadataFamilies } : {}),
  };
}

export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
