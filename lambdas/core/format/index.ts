/**
 * The shard object format (versions 1 and 2): a streaming, lossless, columnar encoding of Prometheus
 * series, compressed with brotli. docs/FORMAT.md specifies the bytes.
 */
export {
  encodeShard,
  ShardEncoder,
  DEFAULT_BLOCK_SAMPLES,
  DEFAULT_BROTLI_QUALITY,
  DEFAULT_WINDOW_BITS,
} from './encoder';
export type { EncodeOptions, EncodedShard, ShardStats } from './encoder';
export { decodeShard, decodeShardBlocks } from './decoder';
export type { DecodeOptions } from './decoder';
export { InvalidSeriesError, DEFAULT_ENCODER_TUNING } from './block-encode';
export { LIMITS } from './block-format';
export type { EncoderTuning, KindCounts } from './block-encode';
export { SHARD_FORMAT_VERSION, METADATA_FORMAT_VERSION, CODEC_IDS, MAGIC, HEADER_BYTES } from './header';
export type { CodecName } from './header';

/** The manifest's `codec` for shards written with the default options. */
export const SHARD_CODEC = 'brotli';
