import type { Command } from 'commander';
import { formatQueueStatus, queueStatus } from '../node/index.js';

/** `uap queue status`: who is working and what is waiting. */
export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('inspect the job queue of `uap worker` processes');
  queue
    .command('status')
    .description('connected workers and job counts (waiting, running, failed …), with the running jobs')
    .requiredOption('--queue <url>', 'redis://HOST:PORT, redis://:PASSWORD@HOST:PORT or rediss://… (TLS)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (f: { queue: string; json?: boolean }) => {
      const s = await queueStatus(f.queue);
      if (f.json) console.log(JSON.stringify(s));
      else for (const line of formatQueueStatus(s)) console.log(line);
    });
}
