/** Small statistics and formatting helpers shared by the scenarios. Samples are plain
 *  numbers; a summary keeps the median (what the tables lead with) and the spread. */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(xs: readonly number[]): Summary {
  return { n: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** `digits` decimals; NaN and undefined print as "–". */
export function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits);
}

/** Integers with thousands separators: 10,512. */
export function fmtInt(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? "–" : Math.round(x).toLocaleString("en-US");
}

export const kbToMiB = (kb: number) => kb / 1024;

/** A GitHub-flavoured markdown table, columns padded so it also reads as plain text. */
export function markdownTable(header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(" | ")} |`;
  return [line(header), `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
