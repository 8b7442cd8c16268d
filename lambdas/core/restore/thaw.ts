/**
 * thaw: before a restore reads shard objects, those in archive tiers (Glacier Flexible
 * Retrieval, Deep Archive) must be copied back to a readable tier. Requests are idempotent
 * per object: only archived objects get one; objects already thawing are counted as pending.
 * The state machine calls this again after a wait until nothing is pending.
 */
import { mapPool } from '../pool';

/** S3 retrieval tiers for archived objects; the one definition (config, task input and CLI use it). */
export const THAW_TIERS = ['Standard', 'Bulk', 'Expedited'] as const;
export type ThawTier = (typeof THAW_TIERS)[number];

/** 'archived': needs a thaw request; 'restoring': a request is under way; 'readable': GET works now. */
export type ArchiveStatus = 'readable' | 'archived' | 'restoring';

/** Archive-tier operations of an object store (S3 in lambdas/adapters/s3-thaw.ts). */
export interface ArchiveThawer {
  status(key: string): Promise<ArchiveStatus>;
  /** Asks for a readable copy kept for `days`; resolves with the status after the request. */
  requestThaw(key: string, tier: ThawTier, days: number): Promise<ArchiveStatus>;
}

export interface ThawOptions {
  readonly tier: ThawTier;
  readonly days: number;
  /** Status and thaw requests in flight at once. */
  readonly concurrency?: number;
}

export interface ThawSummary {
  readonly objects: number;
  readonly readable: number;
  /** Objects not readable yet, including those requested by this call. */
  readonly pending: number;
  /** Thaw requests made by this call. */
  readonly requested: number;
}

export const DEFAULT_THAW_CONCURRENCY = 16;

export async function thawObjects(
  thawer: ArchiveThawer,
  keys: readonly string[],
  options: ThawOptions,
): Promise<ThawSummary> {
  const unique = [...new Set(keys)];
  let requested = 0;
  const states = await mapPool(unique, options.concurrency ?? DEFAULT_THAW_CONCURRENCY, async (key) => {
    const status = await thawer.status(key);
    if (status !== 'archived') return status;
    requested++;
    return thawer.requestThaw(key, options.tier, options.days);
  });
  const readable = states.filter((s) => s === 'readable').length;
  return { objects: unique.length, readable, pending: unique.length - readable, requested };
}
