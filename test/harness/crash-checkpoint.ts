/**
 * A checkpoint commit that a test can SIGKILL inside the directory store's conditional write:
 * with its lock file held, while the new checkpoint streams into its temporary file.
 *
 * Run as a child process (`node --require tsx/cjs test/harness/crash-checkpoint.ts`): commits the
 * windows [CRASH_FROM_H, CRASH_TO_H) hours after RACE_T0 for source CRASH_SOURCE into the
 * directory CRASH_STORE, and with CRASH_KILL=1 kills itself with SIGKILL mid-write.
 */
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { commitCheckpoint } from '../../lambdas/core/backup/commit';
import type { PutResult } from '../../lambdas/core/ports';
import { hours, RACE_T0 } from './checkpoint-race';

class KillingStore extends DirectoryStore {
  override put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const watched = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        yield chunk;
        process.kill(process.pid, 'SIGKILL');
      }
    };
    return super.put(key, watched());
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const store = env.CRASH_KILL === '1' ? new KillingStore(env.CRASH_STORE!) : new DirectoryStore(env.CRASH_STORE!);
  const w = hours([Number(env.CRASH_FROM_H), Number(env.CRASH_TO_H)]);
  await commitCheckpoint(store, { source: env.CRASH_SOURCE!, planned: w, committed: w, nowMs: RACE_T0 });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
