/**
 * Fault injection points for tests, inert unless a test sets one of these in the environment of the process
 * it runs (a child `uap …`), so faults that cannot be produced on demand — a full disk, a kill between two
 * renames — can be tested end to end:
 *   UAP_TEST_KILL_AT=<point>[@n]      the process SIGKILLs itself the n-th time (default 1st) it reaches <point>
 *   UAP_TEST_FAULT=<point>:<CODE>[@n] the n-th time it reaches <point>, a file operation fails with errno CODE
 *                                     (ENOSPC, EROFS, EACCES, EIO …)
 */

const counts = new Map<string, number>();

function parse(spec: string | undefined): { point: string; code?: string; n: number } | undefined {
  const m = spec ? /^([\w-]+)(?::([A-Z]+))?(?:@(\d+))?$/.exec(spec) : null;
  return m ? { point: m[1]!, ...(m[2] ? { code: m[2] } : {}), n: Number(m[3] ?? 1) } : undefined;
}

/** Counts per spec, so a test that sets a new spec starts counting afresh. */
function hit(key: string, spec: string, n: number): boolean {
  const k = `${key}:${spec}`;
  const c = (counts.get(k) ?? 0) + 1;
  counts.set(k, c);
  return c === n;
}

/** Marks a fault point: may kill the process or throw an errno error, as the environment says. */
export function faultPoint(point: string): void {
  const kill = parse(process.env.UAP_TEST_KILL_AT);
  if (kill && kill.point === point && hit('kill', process.env.UAP_TEST_KILL_AT!, kill.n)) process.kill(process.pid, 'SIGKILL');
  const fault = parse(process.env.UAP_TEST_FAULT);
  if (fault?.code && fault.point === point && hit('fault', process.env.UAP_TEST_FAULT!, fault.n)) {
    const e = new Error(`${fault.code}: injected fault at ${point}`) as NodeJS.ErrnoException;
    e.code = fault.code;
    throw e;
  }
}
