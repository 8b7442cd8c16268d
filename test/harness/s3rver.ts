/**
 * An in-process S3-compatible server (the `s3rver` package) for integration tests.
 *
 * Workaround, Node 17+ / OpenSSL 3: s3rver encrypts ListObjectsV2 continuation tokens with
 * single DES (`crypto.createCipheriv('des', 8-byte key, 8-byte iv)` in
 * node_modules/s3rver/lib/controllers/bucket.js). OpenSSL 3 moved DES to the legacy provider,
 * so that call throws "digital envelope routines::unsupported" and every listing of more than
 * 1000 keys fails. The token functions are private to that module and cannot be replaced, so
 * patchDesForS3rver() wraps crypto.createCipheriv/createDecipheriv instead: a request for
 * 'des' (DES-CBC) becomes 'des-ede3-cbc' with the key repeated three times. Triple DES with
 * K1 = K2 = K3 is exactly single DES (E_K(D_K(E_K(x))) = E_K(x)), so tokens are bit-for-bit
 * what s3rver meant to produce. Only calls naming 'des'/'des-cbc' are touched, and those can
 * only throw without the patch, so nothing else in the process changes. (The alternative,
 * `NODE_OPTIONS=--openssl-legacy-provider`, needs the flag on every test run.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// The real module object (an `import * as` namespace would be a copy under esModuleInterop).
const nodeCrypto = require('node:crypto') as typeof import('node:crypto');

let desPatched = false;

/** See the module comment. Idempotent. */
export function patchDesForS3rver(): void {
  if (desPatched) return;
  desPatched = true;
  const isDes = (algorithm: string, key: unknown) =>
    ['des', 'des-cbc'].includes(algorithm.toLowerCase()) && Buffer.isBuffer(key) && key.length === 8;
  const cipheriv = nodeCrypto.createCipheriv;
  const decipheriv = nodeCrypto.createDecipheriv;
  const tripled = (key: Buffer) => Buffer.concat([key, key, key]);
  nodeCrypto.createCipheriv = function (this: unknown, algorithm: string, key: unknown, ...rest: unknown[]) {
    const args = isDes(algorithm, key) ? ['des-ede3-cbc', tripled(key as Buffer), ...rest] : [algorithm, key, ...rest];
    return (cipheriv as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof nodeCrypto.createCipheriv;
  nodeCrypto.createDecipheriv = function (this: unknown, algorithm: string, key: unknown, ...rest: unknown[]) {
    const args = isDes(algorithm, key) ? ['des-ede3-cbc', tripled(key as Buffer), ...rest] : [algorithm, key, ...rest];
    return (decipheriv as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof nodeCrypto.createDecipheriv;
}

export interface S3rverHandle {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Configured like promvault's own clients for S3-compatible servers. */
  readonly client: S3Client;
  /** Where s3rver keeps its files. */
  readonly directory: string;
  stop(): Promise<void>;
}

/** A client for an S3-compatible endpoint, configured like createS3Client in s3-store.ts. */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Starts s3rver on 127.0.0.1 on a free port with the given buckets, in a fresh temp directory. */
export async function startS3rver(options: { buckets: readonly string[] }): Promise<S3rverHandle> {
  patchDesForS3rver();
  const directory = await mkdtemp(path.join(tmpdir(), 'promvault-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  // silent: true only silences s3rver's console transport; its winston logger still writes
  // "[winston] Attempt to write logs with no transports" under jest. Silence the logger itself.
  const logger = (server as unknown as { logger?: { silent: boolean } }).logger;
  if (logger) logger.silent = true;
  const address: AddressInfo = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = s3rverClient(endpoint);
  let stopped = false;
  return {
    endpoint,
    client,
    directory,
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      // Keep-alive sockets would hold close() open until they time out.
      const httpServer = (server as unknown as { httpServer?: Server }).httpServer;
      httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
