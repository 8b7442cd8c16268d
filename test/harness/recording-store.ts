/**
 * An ObjectStore wrapper that records every call (operation and key) and lets a test act at each
 * step: before a call starts, while a put's body streams, after it completes. The IAM test maps
 * the record to S3 actions; the crash test SIGKILLs its own process at one step.
 */
import { ObjectNotFoundError } from '../../lambdas/core/errors';
import type { ListOptions, ObjectInfo, ObjectStore, PutResult, VersionedObject } from '../../lambdas/core/ports';

export type StoreOp = 'get' | 'head' | 'list' | 'put' | 'delete';

export interface StoreCall {
  readonly op: StoreOp;
  /** The key, or the prefix of a list. */
  readonly key: string;
  /** A get or head that found nothing (S3 answers those 404 only to a principal that may list). */
  missing?: boolean;
}

/** `before` a call starts, `during` a put (its first body chunk was taken), `after` it completed. */
export type StepPhase = 'before' | 'during' | 'after';

/** Called with the 1-based index of the call in `calls`. */
export type StepHook = (index: number, call: StoreCall, phase: StepPhase) => void;

export class RecordingStore implements ObjectStore {
  readonly calls: StoreCall[] = [];
  readonly location: string;

  constructor(
    private readonly inner: ObjectStore,
    private readonly onStep: StepHook = () => undefined,
  ) {
    this.location = inner.location;
  }

  private begin(op: StoreOp, key: string): number {
    const call: StoreCall = { op, key };
    this.calls.push(call);
    const index = this.calls.length;
    this.onStep(index, call, 'before');
    return index;
  }

  private end(index: number): void {
    this.onStep(index, this.calls[index - 1]!, 'after');
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const index = this.begin('put', key);
    const onStep = this.onStep;
    const call = this.calls[index - 1]!;
    const watched = async function* (): AsyncGenerator<Uint8Array> {
      let first = true;
      for await (const chunk of body) {
        yield chunk;
        if (first) onStep(index, call, 'during');
        first = false;
      }
    };
    const result = await this.inner.put(key, watched());
    this.end(index);
    return result;
  }

  get(key: string): AsyncIterable<Uint8Array> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const index = self.begin('get', key);
        try {
          yield* self.inner.get(key);
        } catch (err) {
          if (err instanceof ObjectNotFoundError) self.calls[index - 1]!.missing = true;
          throw err;
        }
        self.end(index);
      },
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const index = this.begin('head', key);
    const info = await this.inner.head(key);
    if (info === undefined) this.calls[index - 1]!.missing = true;
    this.end(index);
    return info;
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    const index = this.begin('list', prefix);
    yield* this.inner.list(prefix, options);
    this.end(index);
  }

  async delete(key: string): Promise<void> {
    const index = this.begin('delete', key);
    await this.inner.delete(key);
    this.end(index);
  }

  /** Recorded as a get: S3 needs the same permission (GetObject). */
  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const index = this.begin('get', key);
    const found = await this.inner.getVersioned(key);
    if (found === undefined) this.calls[index - 1]!.missing = true;
    this.end(index);
    return found;
  }

  /** Recorded as a put: a conditional PutObject. */
  async putIfMatch(key: string, bytes: Uint8Array, expectedEtag: string | undefined): Promise<{ etag: string }> {
    const index = this.begin('put', key);
    const result = await this.inner.putIfMatch(key, bytes, expectedEtag);
    this.end(index);
    return result;
  }

  check(): Promise<void> {
    return this.inner.check();
  }

  checkReadable(): Promise<void> {
    return this.inner.checkReadable();
  }
}
