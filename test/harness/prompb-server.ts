/**
 * The other side of the prompb messages promvault exchanges, for test servers and receivers:
 * decoding the requests promvault sends (ReadRequest, WriteRequest) and encoding the responses a
 * Prometheus answers (ReadResponse, ChunkedReadResponse). promvault itself never needs these, so
 * they live with the test harness; they share the wire tags and primitives of the core's codecs.
 */
import { Reader, Writer } from 'protobufjs/minimal';
import { DecodeError } from '../../lambdas/core/prom/decode-error';
import {
  CHUNK_DATA,
  CHUNK_MAX_TIME_MS,
  CHUNK_MIN_TIME_MS,
  CHUNK_TYPE,
  CHUNKED_RESPONSE_QUERY_INDEX,
  CHUNKED_RESPONSE_SERIES,
  CHUNKED_SERIES_CHUNKS,
  CHUNKED_SERIES_LABELS,
  checkEnd,
  encodeTimeSeriesList,
  HINTS_BY,
  HINTS_END_MS,
  HINTS_FUNC,
  HINTS_GROUPING,
  HINTS_RANGE_MS,
  HINTS_START_MS,
  HINTS_STEP_MS,
  LABEL_NAME,
  LABEL_VALUE,
  METADATA_FAMILY_NAME,
  METADATA_HELP,
  METADATA_TYPE,
  METADATA_UNIT,
  WRITE_REQUEST_METADATA,
  MATCHER_NAME,
  MATCHER_TYPE,
  MATCHER_VALUE,
  QUERY_END_MS,
  QUERY_HINTS,
  QUERY_MATCHERS,
  QUERY_START_MS,
  READ_REQUEST_ACCEPTED_TYPES,
  READ_REQUEST_ACCEPTED_TYPES_PACKED,
  READ_REQUEST_QUERIES,
  READ_RESPONSE_RESULTS,
  readString,
  readTimeSeriesList,
  subEnd,
  WIRE_TYPE_MASK,
  wrapDecode,
  type ChunkedReadResponse,
  type ReadHints,
  type ReadQuery,
} from '../../lambdas/core/prom/prompb';
import { readInt64 } from '../../lambdas/core/prom/varint';
import {
  METRIC_TYPES,
  type LabelMatcher,
  type MatcherType,
  type MetricMetadata,
  type SeriesPiece,
} from '../../lambdas/core/types';

const MATCHER_TYPES: readonly MatcherType[] = ['=', '!=', '=~', '!~'];

export interface ReadRequest {
  readonly queries: ReadQuery[];
  readonly acceptedResponseTypes: number[];
}

function readMatcher(r: Reader, end: number): LabelMatcher {
  let code = 0;
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === MATCHER_TYPE) code = r.int32();
    else if (tag === MATCHER_NAME) name = readString(r);
    else if (tag === MATCHER_VALUE) value = readString(r);
    else r.skipType(tag & WIRE_TYPE_MASK);
  }
  checkEnd(r, end);
  const type = MATCHER_TYPES[code];
  if (type === undefined) throw new DecodeError(`unknown label matcher type ${code}`);
  return { type, name, value };
}

function readHints(r: Reader, end: number): ReadHints {
  const h: { -readonly [K in keyof ReadHints]: ReadHints[K] } = {};
  const grouping: string[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case HINTS_STEP_MS:
        h.stepMs = readInt64(r);
        break;
      case HINTS_FUNC:
        h.func = readString(r);
        break;
      case HINTS_START_MS:
        h.startMs = readInt64(r);
        break;
      case HINTS_END_MS:
        h.endMs = readInt64(r);
        break;
      case HINTS_GROUPING:
        grouping.push(readString(r));
        break;
      case HINTS_BY:
        h.by = r.bool();
        break;
      case HINTS_RANGE_MS:
        h.rangeMs = readInt64(r);
        break;
      default:
        r.skipType(tag & WIRE_TYPE_MASK);
    }
  }
  checkEnd(r, end);
  if (grouping.length > 0) h.grouping = grouping;
  return h;
}

/** Decodes a ReadRequest (for test servers). */
export function decodeReadRequest(bytes: Uint8Array): ReadRequest {
  return wrapDecode('ReadRequest', bytes, (r) => {
    const queries: ReadQuery[] = [];
    const acceptedResponseTypes: number[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === READ_REQUEST_QUERIES) {
        const end = subEnd(r, r.len);
        let startTimestampMs = 0;
        let endTimestampMs = 0;
        const matchers: LabelMatcher[] = [];
        let hints: ReadHints | undefined;
        while (r.pos < end) {
          const t = r.uint32();
          if (t === QUERY_START_MS) startTimestampMs = readInt64(r);
          else if (t === QUERY_END_MS) endTimestampMs = readInt64(r);
          else if (t === QUERY_MATCHERS) matchers.push(readMatcher(r, subEnd(r, end)));
          else if (t === QUERY_HINTS) hints = readHints(r, subEnd(r, end));
          else r.skipType(t & WIRE_TYPE_MASK);
        }
        checkEnd(r, end);
        queries.push(
          hints
            ? { startTimestampMs, endTimestampMs, matchers, hints }
            : { startTimestampMs, endTimestampMs, matchers },
        );
      } else if (tag === READ_REQUEST_ACCEPTED_TYPES_PACKED) {
        const end = subEnd(r, r.len);
        while (r.pos < end) acceptedResponseTypes.push(r.int32());
        checkEnd(r, end);
      } else if (tag === READ_REQUEST_ACCEPTED_TYPES) {
        acceptedResponseTypes.push(r.int32());
      } else r.skipType(tag & WIRE_TYPE_MASK);
    }
    return { queries, acceptedResponseTypes };
  });
}

/** Encodes a ReadResponse with one QueryResult per entry (for test servers). */
export function encodeReadResponse(results: readonly (readonly SeriesPiece[])[]): Uint8Array {
  const w = Writer.create();
  for (const series of results) w.uint32(READ_RESPONSE_RESULTS).bytes(encodeTimeSeriesList(series));
  return w.finish();
}

/** Encodes one ChunkedReadResponse frame message (for test servers). */
export function encodeChunkedReadResponse(resp: ChunkedReadResponse): Uint8Array {
  const w = Writer.create();
  for (const s of resp.series) {
    w.uint32(CHUNKED_RESPONSE_SERIES).fork();
    for (const l of s.labels)
      w.uint32(CHUNKED_SERIES_LABELS)
        .fork()
        .uint32(LABEL_NAME)
        .string(l.name)
        .uint32(LABEL_VALUE)
        .string(l.value)
        .ldelim();
    for (const c of s.chunks) {
      w.uint32(CHUNKED_SERIES_CHUNKS).fork();
      w.uint32(CHUNK_MIN_TIME_MS).int64(c.minTimeMs);
      w.uint32(CHUNK_MAX_TIME_MS).int64(c.maxTimeMs);
      w.uint32(CHUNK_TYPE).int32(c.type);
      w.uint32(CHUNK_DATA).bytes(c.data);
      w.ldelim();
    }
    w.ldelim();
  }
  if (resp.queryIndex !== 0) w.uint32(CHUNKED_RESPONSE_QUERY_INDEX).int64(resp.queryIndex);
  return w.finish();
}

/** The metadata of a remote-write 1.0 WriteRequest (uncompressed), in order; its timeseries are skipped. */
export function decodeWriteRequestMetadata(bytes: Uint8Array): MetricMetadata[] {
  return wrapDecode('WriteRequest', bytes, (r) => {
    const out: MetricMetadata[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag !== WRITE_REQUEST_METADATA) {
        r.skipType(tag & WIRE_TYPE_MASK);
        continue;
      }
      const end = subEnd(r, r.len);
      let type = 0;
      let metricFamilyName = '';
      let help = '';
      let unit = '';
      while (r.pos < end) {
        const t = r.uint32();
        if (t === METADATA_TYPE) type = r.int32();
        else if (t === METADATA_FAMILY_NAME) metricFamilyName = readString(r);
        else if (t === METADATA_HELP) help = readString(r);
        else if (t === METADATA_UNIT) unit = readString(r);
        else r.skipType(t & WIRE_TYPE_MASK);
      }
      checkEnd(r, end);
      const name = METRIC_TYPES[type];
      if (name === undefined) throw new DecodeError(`unknown metric type ${type}`);
      out.push({ metricFamilyName, type: name, help, unit });
    }
    return out;
  });
}

/** Decodes a remote-write 1.0 WriteRequest (uncompressed), e.g. in a test receiver. */
export function decodeWriteRequest(bytes: Uint8Array): SeriesPiece[] {
  return wrapDecode('WriteRequest', bytes, (r) => readTimeSeriesList(r, r.len, { n: 0 }));
}
