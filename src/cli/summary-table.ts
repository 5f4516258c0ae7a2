// The min/mean/p50/p95/max table `whet data inspect` prints for token lengths (SFT and preference data alike).
import type { Summary } from '../data/stats.ts';

/** Header and one line per labelled summary; the label column fits the longest label. */
export function summaryTable(rows: [string, Summary][]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const header = `  ${''.padEnd(width)}${['min', 'mean', 'p50', 'p95', 'max'].map((h) => h.padStart(9)).join('')}`;
  return [header, ...rows.map(([label, x]) => `  ${label.padEnd(width)}${[x.min, x.mean, x.p50, x.p95, x.max].map((v) => fmt(v).padStart(9)).join('')}`)];
}
