/**
 * s3rver in a child process of its own, so a test can SIGKILL the S3 server mid-upload and start
 * it again on the same port and directory (what it had stored survives, as on a real server).
 *
 * Run as a child (`node --require tsx/cjs test/harness/s3rver-process.ts`), it serves
 * S3RVER_DIR on 127.0.0.1:S3RVER_PORT with the buckets in S3RVER_BUCKETS (comma-separated).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort, makeTempDir, startProcess, waitFor, type ManagedProcess } from './ports';
import { patchDesForS3rver, s3rverClient } from './s3rver';
import type { S3Client } from '@aws-sdk/client-s3';

export interface S3rverProcess {
  /** http://127.0.0.1:<port>, the same across restarts. */
  readonly endpoint: string;
  readonly client: S3Client;
  /** SIGKILL, at once. */
  kill(): void;
  /** Starts it again (after a kill) on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3rverProcess(options: { buckets: readonly string[] }): Promise<S3rverProcess> {
  const directory = await makeTempDir('s3rver-process');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3rverClient(endpoint);
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = startProcess(process.execPath, ['--require', 'tsx/cjs', __filename], {
      name: 's3rver',
      env: {
        ...process.env,
        S3RVER_DIR: directory,
        S3RVER_PORT: String(port),
        S3RVER_BUCKETS: options.buckets.join(','),
      },
      killAfterMs: 1_000,
    });
    const running = proc;
    await waitFor(
      async () => {
        await (await fetch(endpoint, { signal: AbortSignal.timeout(1_000) })).arrayBuffer();
        return true;
      },
      { what: `s3rver on ${endpoint}`, timeoutMs: 30_000, process: running },
    );
  };
  await start();
  return {
    endpoint,
    client,
    kill: () => proc?.kill(),
    async restart() {
      await proc?.exited;
      await start();
    },
    async stop() {
      client.destroy();
      await proc?.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  patchDesForS3rver();
  const server = new S3rver({
    address: '127.0.0.1',
    port: Number(process.env.S3RVER_PORT),
    silent: true,
    directory: path.resolve(process.env.S3RVER_DIR!),
    vhostBuckets: false,
    configureBuckets: (process.env.S3RVER_BUCKETS ?? '').split(',').map((name) => ({ name, configs: [] })),
  });
  const logger = (server as unknown as { logger?: { silent: boolean } }).logger;
  if (logger) logger.silent = true;
  await server.run();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
