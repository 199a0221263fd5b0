import { Queue } from 'bullmq';
import { checkRedis, createRedis, QUEUE_NAME, redactUrl } from './connection.js';
import type { QueueJob } from './jobs.js';

/** What `uap queue status` shows: the workers connected to the queue and its jobs by state. */
export interface QueueStatus {
  url: string;
  queue: string;
  workers: Array<{ name: string; addr?: string; age?: number; idle?: number }>;
  counts: Record<string, number>;
  active: Array<{ id: string; kind: string; model: string; data: string; worker?: string; progress?: unknown }>;
}

/** Reads the workers, job counts and running jobs of the queue at `url`. */
export async function queueStatus(url: string): Promise<QueueStatus> {
  await checkRedis(url);
  const connection = createRedis(url);
  connection.on('error', () => {});
  const queue = new Queue(QUEUE_NAME, { connection });
  queue.on('error', () => {});
  try {
    const [workers, counts, active] = await Promise.all([
      queue.getWorkers(),
      queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'),
      queue.getActive(0, 99),
    ]);
    return {
      url: redactUrl(url),
      queue: QUEUE_NAME,
      workers: workers.map((w) => ({
        name: String(w.rawname ?? w.name ?? '?').replace(/^bull:[^:]+:w:/, ''),
        ...(w.addr ? { addr: String(w.addr) } : {}),
        ...(w.age !== undefined ? { age: Number(w.age) } : {}),
        ...(w.idle !== undefined ? { idle: Number(w.idle) } : {}),
      })),
      counts,
      active: active.map((j) => {
        const d = j.data as QueueJob;
        return { id: j.id ?? '?', kind: d.kind, model: d.model, data: d.data, ...(j.processedBy ? { worker: j.processedBy } : {}), progress: j.progress };
      }),
    };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** queueStatus as a few lines of text. */
export function formatQueueStatus(s: QueueStatus): string[] {
  const c = s.counts;
  const lines = [
    `queue "${s.queue}" on ${s.url}`,
    `jobs: ${c.waiting ?? 0} waiting, ${c.active ?? 0} running, ${(c.delayed ?? 0) + (c.prioritized ?? 0)} delayed, ${c.completed ?? 0} completed, ${c.failed ?? 0} failed`,
    `${s.workers.length} worker${s.workers.length === 1 ? '' : 's'}:`,
    ...s.workers.map((w) => `  ${w.name}${w.addr ? ` (${w.addr}` : ''}${w.age !== undefined ? `, up ${w.age} s` : ''}${w.addr ? ')' : ''}`),
  ];
  if (s.active.length > 0) lines.push('running:', ...s.active.map((j) => `  ${j.id}  ${j.kind}  ${j.model} on ${j.data}${j.worker ? `  [${j.worker}]` : ''}`));
  return lines;
}
