/** A share as a percentage with one decimal (12.3%), 'n/a' for NaN (e.g. an accuracy without labels). */
export function fmtPct(x: number): string {
  return Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}
