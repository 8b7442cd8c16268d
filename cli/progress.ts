/** A progress bar on a TTY (stderr), nothing otherwise, so pipes and --json stay clean. */
import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  start(total: number): void;
  update(done: number, detail: string): void;
  stop(): void;
}

export function createProgress(label: string, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { start() {}, update() {}, stop() {} };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} shards | {detail}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(total, 0, { detail: '' }),
    update: (done, detail) => bar.update(done, { detail }),
    stop: () => bar.stop(),
  };
}
