/**
 * Errors of the wire decoders. Adapters wrap them into SourceUnavailableError /
 * SourceRejectedError with the endpoint and window, so Step Functions only sees the core names.
 */
import { PermanentError, TransientError } from '../errors';

/** Bytes that do not decode as the protobuf message, XOR chunk or snappy block they claim to be. */
export class DecodeError extends PermanentError {}

/**
 * The streamed remote-read body is damaged: a frame checksum mismatch, a frame larger than
 * allowed, or a body that ends inside a frame. Usually the connection or the server failed
 * mid-stream, so reading again may succeed.
 */
export class CorruptFrameError extends TransientError {
  constructor(
    message: string,
    /** Byte offset of the damaged frame in the response body. */
    readonly frameOffset: number,
  ) {
    super(message);
  }
}
