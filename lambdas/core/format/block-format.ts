/**
 * Blocks: the unit of the payload. A block holds the samples of consecutive segments (a segment
 * is the part of one series that falls in the block), columnar: label data, then sample counts,
 * then timestamp columns, then value streams. The writer (block-encode.ts) and the reader
 * (block-decode.ts) keep the cross-block state (string dictionary, timestamp column cache,
 * previous label set) in lock step; this file holds what both must agree on. See docs/FORMAT.md.
 */

export const RECORD_BLOCK = 0x01;
export const RECORD_END = 0x02;
/** Format version 2 only: metric metadata of the families starting in the next block. */
export const RECORD_METADATA = 0x03;

export const FLAG_RESET_STRINGS = 1;
export const FLAG_RESET_TIMESTAMPS = 2;
export const FLAG_CONTINUES = 4;

/** Sections of a block body, in order. */
export const SECTIONS = [
  'strings',
  'labels',
  'counts',
  'ts-columns',
  'ts-refs',
  'value-kinds',
  'ints',
  'exceptions',
  'corrections',
  'raw',
  'int-plane0',
  'int-plane1',
  'int-plane2',
  'int-plane3',
  'int-plane4',
  'int-plane5',
  'int-plane6',
  'plane0',
  'plane1',
  'plane2',
  'plane3',
  'plane4',
  'plane5',
  'plane6',
  'plane7',
] as const;

/** Limits a decoder enforces so corrupt input cannot make it allocate without bound. */
export const LIMITS = {
  maxBlockSamples: 1 << 20,
  maxBlockSegments: 1 << 20,
  maxBlockBodyBytes: 256 << 20,
  maxDictionaryBytes: 64 << 20,
  maxTimestampCacheBytes: 64 << 20,
} as const;
