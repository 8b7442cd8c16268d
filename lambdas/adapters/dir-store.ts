/**
 * ObjectStore on a local (or mounted) directory: key `a/b/c` is the file `<root>/a/b/c`.
 *
 * put writes to a temporary file next to the target (`.<name>.tmp-<random>`), hashing and
 * counting the bytes as they go, fsyncs it and renames it over the target. rename(2) is atomic
 * within a directory, so readers see the old object or the new one, never a partial one, and a
 * put that fails (the body throws, the disk fills) removes its temporary file and leaves the
 * old object untouched. list never reports temporary files.
 *
 * Errors from the body are passed on unchanged; errors from the file system become a
 * PermanentError that names the key and the directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, constants as fsConstants, type Dirent } from 'node:fs';
import {
  access,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as path from 'node:path';
import {
  InputError,
  ObjectNotFoundError,
  PermanentError,
  PreconditionFailedError,
  TransientError,
} from '../core/errors';
import type { ListOptions, ObjectInfo, ObjectStore, PutResult, VersionedObject } from '../core/ports';

const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{12}$/;
/** The lock file of a conditional write (putIfMatch): `.<name>.lock` beside the object. */
const LOCK_NAME = /^\..+\.lock$/;
/** A lock older than this was left by a killed process: its holder needs milliseconds. */
const LOCK_STALE_MS = 10_000;
/** How long putIfMatch waits for a lock before giving up (a transient failure). */
const LOCK_WAIT_MS = 30_000;

const isHidden = (name: string) => TEMP_NAME.test(name) || LOCK_NAME.test(name);

function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes(String((err as NodeJS.ErrnoException).code));
}

/** The nearest ancestor of `dir` (or `dir` itself) that exists and is not a directory. */
async function fileInTheWay(dir: string): Promise<string | undefined> {
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st !== undefined) return st.isDirectory() ? undefined : p;
    if (path.dirname(p) === p) return undefined;
  }
}

/** A store path that runs through a file: which, and the fix (rather than ENOTDIR or EEXIST). */
async function fileInStorePath(root: string): Promise<string | undefined> {
  const file = await fileInTheWay(root);
  return file === undefined
    ? undefined
    : `${file} is a file, not a directory: give a directory as --store, or move the file away`;
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Byte-wise (UTF-8) comparison, the order S3 lists keys in. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class DirectoryStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = this.root;
  }

  /** The file of `key`, after checking that the key stays inside the root. */
  private fileOf(key: string): string {
    const bad = (why: string) =>
      new InputError(`object key ${JSON.stringify(key)} is not usable in ${this.location}: ${why}`);
    if (key === '') throw bad('it is empty');
    if (key.startsWith('/') || path.isAbsolute(key)) throw bad('it is absolute');
    if (key.includes('\\') || key.includes('\0')) throw bad('it contains a backslash or NUL');
    for (const segment of key.split('/')) {
      if (segment === '') throw bad('it has an empty path segment');
      if (segment === '.' || segment === '..') throw bad(`it has a '${segment}' segment`);
    }
    if (isHidden(path.posix.basename(key))) throw bad('its name is reserved for temporary files');
    return path.join(this.root, ...key.split('/'));
  }

  /**
   * Creates the temporary file, and its directory. A concurrent delete may prune the directory
   * between mkdir and open (see delete), so ENOENT is retried.
   */
  private async createTemp(key: string, dir: string, temp: string): Promise<FileHandle> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw this.fsError('create the directory for', key, err);
      }
      try {
        return await open(temp, 'wx', 0o644);
      } catch (err) {
        if (attempt < 5 && isErrno(err, 'ENOENT')) continue;
        throw this.fsError('write', key, err);
      }
    }
  }

  private fsError(action: string, key: string, err: unknown): PermanentError {
    return new PermanentError(`cannot ${action} ${key} in ${this.location}: ${reason(err)}`, { cause: err });
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const file = this.fileOf(key);
    const dir = path.dirname(file);
    const temp = path.join(dir, `.${path.basename(file)}.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await this.createTemp(key, dir, temp);
    const hash = createHash('sha256');
    let size = 0;
    const iterator = body[Symbol.asyncIterator]();
    let bodyDone = false;
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (err) {
          bodyDone = true;
          throw new BodyError(err);
        }
        if (next.done) {
          bodyDone = true;
          break;
        }
        const chunk = next.value;
        hash.update(chunk);
        size += chunk.byteLength;
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      }
      await handle.sync();
      await handle.close();
      await rename(temp, file);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      // Let the producer clean up (e.g. stop pulling) when the write side failed.
      if (!bodyDone) await iterator.return?.().catch(() => undefined);
      if (err instanceof BodyError) throw err.error;
      throw this.fsError('write', key, err);
    }
    await syncDirectory(dir);
    return { size, sha256: hash.digest('hex') };
  }

  get(key: string): AsyncIterable<Uint8Array> {
    const file = this.fileOf(key);
    const fsError = (err: unknown) => this.fsError('read', key, err);
    const location = this.location;
    return {
      async *[Symbol.asyncIterator]() {
        const stream = createReadStream(file, { highWaterMark: 1 << 20 });
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
        } catch (err) {
          if (isErrno(err, 'ENOENT', 'EISDIR', 'ENOTDIR')) throw new ObjectNotFoundError(key, location);
          throw fsError(err);
        } finally {
          stream.destroy();
        }
      },
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.fileOf(key);
    try {
      const st = await stat(file);
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
      throw this.fsError('stat', key, err);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    if (prefix.startsWith('/') || prefix.split('/').some((s) => s === '.' || s === '..') || prefix.includes('\\')) {
      throw new InputError(`list prefix ${JSON.stringify(prefix)} is not usable in ${this.location}`);
    }
    // Start at the deepest directory the prefix names in full; filter the rest by name.
    const dirPart = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    yield* this.walk(dirPart, prefix, options.modified === true);
  }

  /** The directory of a key prefix ending in '/', or of '' (the root). */
  private dirOfKey(dirKey: string): string {
    return dirKey === '' ? this.root : path.join(this.root, ...dirKey.slice(0, -1).split('/'));
  }

  /** The entries of a directory; none when it does not exist. */
  private async readDirOfKey(dirKey: string): Promise<Dirent[]> {
    try {
      return await readdir(this.dirOfKey(dirKey), { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
      throw this.fsError('list', dirKey || '/', err);
    }
  }

  /**
   * Keys under `dirKey` (a key prefix ending in '/', or '') that start with `prefix`, in byte
   * order. Sorting a directory's entries with '/' appended to subdirectory names makes a
   * depth-first walk produce exactly the lexicographic order of the full keys.
   */
  private async *walk(dirKey: string, prefix: string, modified: boolean): AsyncGenerator<ObjectInfo> {
    const entries = await this.readDirOfKey(dirKey);
    const items = entries
      .filter((e) => (e.isDirectory() || e.isFile()) && !isHidden(e.name))
      .map((e) => ({ key: dirKey + e.name + (e.isDirectory() ? '/' : ''), isDir: e.isDirectory() }))
      .filter((e) => e.key.startsWith(prefix) || (e.isDir && prefix.startsWith(e.key)))
      .sort((a, b) => compareKeys(a.key, b.key));
    for (const item of items) {
      if (item.isDir) {
        yield* this.walk(item.key, prefix, modified);
        continue;
      }
      let st;
      try {
        st = await stat(path.join(this.root, ...item.key.split('/')));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // deleted while listing
        throw this.fsError('stat', item.key, err);
      }
      yield { key: item.key, size: st.size, ...(modified ? { modifiedMs: st.mtimeMs } : {}) };
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await rm(file, { force: true });
    } catch (err) {
      throw this.fsError('delete', key, err);
    }
    // Prune directories left empty, as S3 has no directories. rmdir refuses non-empty ones.
    for (
      let dir = path.dirname(file);
      dir !== this.root && dir.startsWith(this.root + path.sep);
      dir = path.dirname(dir)
    ) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async checkReadable(): Promise<void> {
    let st;
    try {
      st = await stat(this.root);
    } catch (err) {
      const inTheWay = isErrno(err, 'ENOTDIR') ? await fileInStorePath(this.root) : undefined;
      if (inTheWay !== undefined) throw new InputError(`store directory ${this.location} does not exist: ${inTheWay}`);
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
        throw new InputError(
          `store directory ${this.location} does not exist, so it holds no promvault backups: check --store`,
          { cause: err },
        );
      }
      throw new PermanentError(`cannot use the store directory ${this.location}: ${reason(err)}`, { cause: err });
    }
    if (!st.isDirectory()) {
      throw new InputError(
        `store ${this.location} is a file, not a directory: --store takes the directory that holds manifests/ and shards/`,
      );
    }
    try {
      await access(this.root, fsConstants.R_OK | fsConstants.X_OK);
    } catch (err) {
      throw new PermanentError(
        `store directory ${this.location} is not readable by this user: fix its permissions or run as its owner`,
        { cause: err },
      );
    }
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const file = this.fileOf(key);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) return undefined;
      throw this.fsError('read', key, err);
    }
    return { bytes, etag: sha256Hex(bytes) };
  }

  /**
   * The directory emulates S3's conditional PutObject with a lock file created with O_EXCL
   * around the compare and the rename: only the holder compares and writes. A lock older than
   * LOCK_STALE_MS was left by a killed holder and is broken.
   */
  async putIfMatch(key: string, bytes: Uint8Array, expectedEtag: string | undefined): Promise<{ etag: string }> {
    const file = this.fileOf(key);
    const lock = path.join(path.dirname(file), `.${path.basename(file)}.lock`);
    await this.acquireLock(key, lock);
    try {
      const current = await this.getVersioned(key);
      if (current?.etag !== expectedEtag) throw new PreconditionFailedError(key, this.location);
      await this.put(
        key,
        (async function* () {
          yield bytes;
        })(),
      );
    } finally {
      await unlink(lock).catch(() => undefined);
    }
    return { etag: sha256Hex(bytes) };
  }

  private async acquireLock(key: string, lock: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await mkdir(path.dirname(lock), { recursive: true });
        const h = await open(lock, 'wx', 0o644);
        await h.close();
        return;
      } catch (err) {
        // ENOENT: a concurrent delete pruned the directory between mkdir and open.
        if (!isErrno(err, 'EEXIST', 'ENOENT')) throw this.fsError('lock', key, err);
      }
      const st = await stat(lock).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new TransientError(
          `cannot write ${key} in ${this.location}: another run holds its lock ${lock}; retry later`,
        );
      }
      await sleep(5 + Math.floor(Math.random() * 20));
    }
  }

  /** Temporary files of puts that never finished (see put), anywhere under the root. */
  async *listTemporary(): AsyncIterable<ObjectInfo> {
    const walk = async function* (this: DirectoryStore, dirKey: string): AsyncGenerator<ObjectInfo> {
      const dir = this.dirOfKey(dirKey);
      const entries = await this.readDirOfKey(dirKey);
      for (const e of entries.sort((a, b) => compareKeys(a.name, b.name))) {
        if (e.isDirectory()) {
          yield* walk.call(this, `${dirKey}${e.name}/`);
        } else if (e.isFile() && TEMP_NAME.test(e.name)) {
          const st = await stat(path.join(dir, e.name)).catch(() => undefined);
          if (st !== undefined) yield { key: dirKey + e.name, size: st.size, modifiedMs: st.mtimeMs };
        }
      }
    };
    yield* walk.call(this, '');
  }

  async deleteTemporary(key: string): Promise<void> {
    const segments = key.split('/');
    if (!TEMP_NAME.test(segments[segments.length - 1]!) || segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new InputError(`${JSON.stringify(key)} is not a temporary file of ${this.location}`);
    }
    try {
      await rm(path.join(this.root, ...segments), { force: true });
    } catch (err) {
      throw this.fsError('delete', key, err);
    }
  }

  async check(): Promise<void> {
    const existing = await stat(this.root).catch(() => undefined);
    if (existing !== undefined && !existing.isDirectory()) {
      throw new InputError(`store ${this.location} is a file, not a directory: give a directory as --store`);
    }
    try {
      await mkdir(this.root, { recursive: true });
    } catch (err) {
      const inTheWay = isErrno(err, 'ENOTDIR', 'EEXIST') ? await fileInStorePath(this.root) : undefined;
      if (inTheWay !== undefined) {
        throw new InputError(`cannot create the store directory ${this.location}: ${inTheWay}`, { cause: err });
      }
      throw new PermanentError(
        `cannot create the store directory ${this.location}: ${reason(err)}; create it or fix --store`,
        { cause: err },
      );
    }
    let st;
    try {
      st = await stat(this.root);
    } catch (err) {
      throw new PermanentError(`cannot use the store directory ${this.location}: ${reason(err)}`, { cause: err });
    }
    if (!st.isDirectory()) throw new PermanentError(`store ${this.location} is not a directory: fix --store`);
    try {
      await access(this.root, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      throw new PermanentError(
        `store directory ${this.location} is not writable by this user: fix its permissions or choose another --store`,
        { cause: err },
      );
    }
    // access() can say yes on read-only mounts: prove it with a real write.
    const probe = path.join(this.root, `.promvault-check.tmp-${randomBytes(6).toString('hex')}`);
    try {
      const h = await open(probe, 'wx');
      await h.close();
      await unlink(probe);
    } catch (err) {
      await unlink(probe).catch(() => undefined);
      throw new PermanentError(`cannot write in the store directory ${this.location}: ${reason(err)}`, { cause: err });
    }
  }
}

/** Carries an error thrown by a put's body, which is passed on unchanged. */
class BodyError {
  constructor(readonly error: unknown) {}
}

/** Makes a rename durable. Not every platform can fsync a directory; that is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch {
    // best effort
  } finally {
    await h?.close().catch(() => undefined);
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
