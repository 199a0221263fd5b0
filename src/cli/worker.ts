import type { Command } from 'commander';
import { startWorker } from '../node/index.js';
import { initCliBackend } from './backend.js';
import { int } from './options.js';

interface WorkerFlags {
  queue: string;
  concurrency: string;
  modelsDir?: string;
  name?: string;
  lockDuration: string;
  stalledInterval: string;
}

/** `uap worker`: a long-running process that takes eval / predict / gradient jobs from the queue. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('take jobs from a queue (uap eval|labels|transfer|compute --queue URL) and run them here; stops on Ctrl-C')
    .requiredOption('--queue <url>', 'redis://HOST:PORT, redis://:PASSWORD@HOST:PORT or rediss://… (TLS)')
    .option('--concurrency <n>', 'jobs at a time (one CPU-bound engine: more helps only while a job waits on I/O)', '1')
    .option('--models-dir <dir>', 'this machine’s local model mirror (default: the job’s, else env UAP_MODELS_DIR)')
    .option('--name <name>', 'name shown by `uap queue status` (default HOST:PID)')
    .option('--lock-duration <ms>', 'a job whose worker stops renewing its lock for this long is retried elsewhere', '30000')
    .option('--stalled-interval <ms>', 'how often to look for such stalled jobs', '30000')
    .action(async (f: WorkerFlags) => {
      const concurrency = int('--concurrency', f.concurrency, 1);
      const lockDuration = int('--lock-duration', f.lockDuration, 100);
      const stalledInterval = int('--stalled-interval', f.stalledInterval, 100);
      await initCliBackend(program);
      const w = await startWorker({
        url: f.queue,
        concurrency,
        lockDuration,
        stalledInterval,
        ...(f.modelsDir ? { modelsDir: f.modelsDir } : {}),
        ...(f.name ? { name: f.name } : {}),
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          console.error(`worker ${w.name}: stopping (the job in hand finishes first)`);
          void w.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
