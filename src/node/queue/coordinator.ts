import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { UapError, type UapErrorCode } from '../../errors.js';
import { inShardOrder } from '../../eval/shard-counts.js';
import { checkRedis, createRedis, QUEUE_NAME } from './connection.js';
import { decodeError, type QueueJob } from './jobs.js';

/**
 * The coordinator's side of the queue: puts a set of shard jobs on it and waits for all of them. Results are
 * kept by shard number (a shard computed twice, after a stalled job was retried, is still one entry) and
 * handed back in shard order, so what the caller adds up does not depend on which worker finished first.
 *
 * Completion is heard on BullMQ's event stream (QueueEvents) and, as a safety net for events missed during a
 * reconnect, by polling the jobs still pending every few seconds. A job that fails for good (a UapError on
 * the worker, or three failed attempts) stops the whole set: the rest are removed and its message becomes
 * one UapError line. An abort (Ctrl-C) removes the jobs still waiting and marks the run cancelled, so
 * workers skip (or stop) the ones they hold.
 */

const CODES: readonly UapErrorCode[] = ['BAD_ARGUMENT', 'BAD_INPUT', 'NOT_FOUND', 'BAD_MODEL', 'SECURITY', 'INTERRUPTED'];

/** One job of a set: its shard number (results are kept and returned by it), its data, its size. */
export interface ShardJob {
  shard: number;
  data: QueueJob;
  /** Images this job stands for, for the progress bar. */
  images: number;
}

/** How a set of jobs is watched: abort, progress, and the safety-net poll. */
export interface RunJobsOptions {
  signal?: AbortSignal;
  /** Images done over all jobs of the set (finished jobs, and the progress running ones report). */
  onProgress?: (done: number, total: number) => void;
  /** Safety-net poll period (ms). */
  pollMs?: number;
}

/** The coordinator side of the queue (see the top of this file). */
export class Coordinator {
  /** This coordinator's run id: every job id starts with it. */
  readonly run = randomBytes(6).toString('hex');
  private seq = 0;

  private constructor(
    readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly control: Redis,
    private readonly clients: readonly Redis[],
  ) {}

  /** Connects (one clear line when Redis cannot be reached) and opens the queue and its event stream. */
  static async open(url: string): Promise<Coordinator> {
    await checkRedis(url);
    // BullMQ never closes a connection it was given: close() below ends these.
    const clients = [createRedis(url), createRedis(url), createRedis(url)];
    const [forQueue, forEvents, control] = clients as [Redis, Redis, Redis];
    for (const c of clients) c.on('error', () => {});
    const queue = new Queue(QUEUE_NAME, { connection: forQueue });
    const events = new QueueEvents(QUEUE_NAME, { connection: forEvents });
    queue.on('error', () => {});
    events.on('error', () => {});
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return new Coordinator(queue, events, control, clients);
  }

  /** Runs one set of jobs (all shards of one evaluation, or of one SGD step); results in shard order. */
  async runJobs<R>(jobs: readonly ShardJob[], opts: RunJobsOptions = {}): Promise<R[]> {
    if (opts.signal?.aborted) throw new UapError('INTERRUPTED', 'stopped before the jobs were queued');
    const set = this.seq++;
    const idOf = (shard: number) => `${this.run}-${set}-${shard}`;
    const shardOf = new Map(jobs.map((j) => [idOf(j.shard), j] as const));
    const results = new Map<number, R>();
    const progress = new Map<string, number>();
    const total = jobs.reduce((s, j) => s + j.images, 0);
    let doneImages = 0;
    const report = () => {
      let running = 0;
      for (const [id, p] of progress) if (!results.has(shardOf.get(id)!.shard)) running += p;
      opts.onProgress?.(Math.min(total, doneImages + running), total);
    };

    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const finished = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    let failed = false;
    const accept = (id: string, value: unknown) => {
      const job = shardOf.get(id);
      if (!job || results.has(job.shard) || failed) return;
      if (value === null || value === undefined) return; // a cancelled run's placeholder
      results.set(job.shard, value as R);
      // Taken: the job (v in, a gradient out: 1.2 MB at 224×224×3) need not stay in Redis.
      void this.queue.remove(id).catch(() => 0);
      doneImages += job.images;
      report();
      if (results.size === jobs.length) settle.resolve();
    };
    const fail = async (id: string) => {
      const meta = shardOf.get(id);
      if (!meta || results.has(meta.shard) || failed) return;
      const job = await Job.fromId(this.queue, id);
      if (!job || (await job.getState()) !== 'failed' || failed) return; // retried: not final yet
      failed = true;
      const { code, message } = decodeError(job.failedReason ?? 'unknown failure');
      const by = job.processedBy ? ` on worker ${job.processedBy}` : '';
      const known = CODES.find((c) => c === code);
      settle.reject(new UapError(known ?? 'BAD_INPUT', `${message} (shard ${meta.shard}, ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}${by})`));
    };
    const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => accept(jobId, returnvalue);
    const onFailed = ({ jobId }: { jobId: string }) => void fail(jobId).catch(() => {});
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (!shardOf.has(jobId) || typeof data !== 'number') return;
      progress.set(jobId, data);
      report();
    };
    this.events.on('completed', onCompleted);
    this.events.on('failed', onFailed);
    this.events.on('progress', onProgress);
    const onAbort = () => settle.reject(new UapError('INTERRUPTED', 'stopped (Ctrl-C); the queued jobs were removed'));
    opts.signal?.addEventListener('abort', onAbort);
    const poll = setInterval(() => {
      void (async () => {
        for (const id of shardOf.keys()) {
          if (results.has(shardOf.get(id)!.shard) || failed) continue;
          const state = await this.queue.getJobState(id);
          if (state === 'completed') accept(id, (await Job.fromId(this.queue, id))?.returnvalue);
          else if (state === 'failed') await fail(id);
        }
      })().catch(() => {});
    }, opts.pollMs ?? 3000);

    try {
      report();
      await this.queue.addBulk(
        jobs.map((j) => ({
          name: j.data.kind,
          data: j.data,
          opts: {
            jobId: idOf(j.shard),
            attempts: 3,
            backoff: { type: 'fixed', delay: 500 },
            removeOnComplete: { age: 3600, count: 1000 },
            removeOnFail: { age: 24 * 3600 },
          },
        })),
      );
      await finished;
      return inShardOrder(results, jobs.length);
    } catch (e) {
      await this.removePending([...shardOf.keys()].filter((id) => !results.has(shardOf.get(id)!.shard)));
      if (e instanceof UapError && e.code === 'INTERRUPTED') await this.cancel();
      throw e;
    } finally {
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onAbort);
      this.events.off('completed', onCompleted);
      this.events.off('failed', onFailed);
      this.events.off('progress', onProgress);
    }
  }

  /** Removes jobs that are still waiting (a job a worker holds is locked: the cancel mark stops it). */
  private async removePending(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.queue.remove(id).catch(() => 0)));
  }

  /** Marks this run cancelled (for an hour): workers skip its jobs, and stop the ones they are running. */
  async cancel(): Promise<void> {
    await this.control.set(`uap:cancelled:${this.run}`, '1', 'EX', 3600);
  }

  /** Closes the queue, the event stream and their connections. */
  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    for (const c of this.clients) c.disconnect();
  }
}
