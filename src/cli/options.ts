import { UapError } from '../errors.js';
import type { LpNorm } from '../attacks/project.js';

/** Parsers for CLI values: each names the flag it rejects. */

export function num(flag: string, value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new UapError('BAD_ARGUMENT', `not a number: "${value}"`, flag);
  return x;
}

export function positive(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${value}`, flag);
  return x;
}

export function int(flag: string, value: string, min = 0): number {
  const x = num(flag, value);
  if (!Number.isInteger(x) || x < min) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ ${min}, got ${value}`, flag);
  return x;
}

export function openUnit(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0 && x < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${value}`, flag);
  return x;
}

export function norm(flag: string, value: string): LpNorm {
  if (value === 'inf' || value === 'Infinity' || value === 'linf') return 'inf';
  if (value === '2' || value === 'l2') return 2;
  if (value === '1' || value === 'l1') return 1;
  throw new UapError('BAD_ARGUMENT', `must be inf, 2 or 1, got "${value}"`, flag);
}

export function fmtPct(x: number): string {
  return Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}
