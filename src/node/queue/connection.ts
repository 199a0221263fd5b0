import { Redis, type RedisOptions } from 'ioredis';
import { UapError } from '../../errors.js';

/**
 * Redis connections for the queue. `--queue` takes a Redis URL:
 *   redis://HOST:PORT[/DB]                 plain TCP
 *   redis://:PASSWORD@HOST:PORT            with a password (Redis `requirepass`); redis://USER:PASSWORD@… for ACL users
 *   rediss://…                             TLS (the server's certificate is checked against Node's CAs; a private CA
 *                                          is added with the environment variable NODE_EXTRA_CA_CERTS=ca.pem)
 * ioredis parses all of these. Passwords never appear in logs: `redactUrl` shows them as ***.
 */

/** The BullMQ queue every coordinator and worker uses (Redis keys bull:uap:…). */
export const QUEUE_NAME = 'uap';

/** Checks a --queue URL (redis:// or rediss://, with a host); BAD_ARGUMENT naming --queue otherwise. */
export function parseQueueUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UapError('BAD_ARGUMENT', `not a URL: "${url}" (expected redis://HOST:PORT, redis://:PASSWORD@HOST:PORT or rediss://…)`, '--queue');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UapError('BAD_ARGUMENT', `expected a redis:// or rediss:// URL, got ${u.protocol}//`, '--queue');
  }
  if (!u.hostname) throw new UapError('BAD_ARGUMENT', 'the URL names no host', '--queue');
  return u;
}

/** The URL with its password replaced by ***, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparseable URL)';
  }
}

/** ioredis options for a URL: TLS for rediss:// (ioredis sets it), plus what BullMQ needs for blocking calls. */
export function redisOptions(url: string, extra: RedisOptions = {}): { url: string; options: RedisOptions } {
  parseQueueUrl(url);
  return { url, options: { maxRetriesPerRequest: null, ...extra } };
}

/** A new client. BullMQ objects each get their own (blocking commands need a connection of their own). */
export function createRedis(url: string, extra: RedisOptions = {}): Redis {
  const { options } = redisOptions(url, extra);
  return new Redis(url, options);
}

/**
 * Connects once, with a bounded wait, and says in one line why not: a refused or timed-out connection, a
 * wrong password, a TLS failure. Run before anything else so an unreachable queue fails fast instead of
 * retrying forever (ioredis' default).
 */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const client = createRedis(url, { lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  let lastError: Error | undefined;
  client.on('error', (e: Error) => (lastError = e));
  const timer = new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs).unref();
  });
  try {
    await Promise.race([(async () => {
      await client.connect();
      await client.ping();
    })(), timer]);
  } catch (e) {
    const why = (lastError ?? (e as Error)).message || String(e);
    throw new UapError('NOT_FOUND', `cannot reach Redis at ${redactUrl(url)}: ${why}`, '--queue');
  } finally {
    client.disconnect();
  }
}
