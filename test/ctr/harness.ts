/** Runs bctr (from source, as bin/bctr does) against a daemon started by the shared harness,
 *  and the Go ctr beside it, so a suite can compare the two CLIs on one daemon's state. */
import { join } from "node:path";
import { type DaemonHandle, REPO, type RunResult, run } from "../harness/daemon.ts";

export const BCTR = join(REPO, "bin/bctr");
export const KINDS = ["bunkerd", "containerd"] as const;

export function bctrAt(d: DaemonHandle) {
  return (
    args: string[],
    opts: { stdin?: Uint8Array; timeoutMs?: number; env?: Record<string, string> } = {},
  ) => run([BCTR, "--address", d.address, ...args], { ...opts, env: { NO_COLOR: "1", ...opts.env } });
}

/** Throws with both streams when the command failed. */
export function ok(r: RunResult): string {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Table lines with the AGE-like columns that move with time blanked. */
export const stable = (s: string) =>
  s.replace(/\d+ seconds|Less than a second|1 second|About a minute/g, "AGE");

/** `k=v,k2=v2` label cells sorted (Go ctr prints map order for content labels). */
export const sortLabelCells = (s: string) =>
  s
    .split("\n")
    .map((l) => l.replace(/\S+=\S+$/, (cell) => cell.split(",").sort().join(",")))
    .join("\n");

/** `content ls` as rows of [digest, size, sorted labels]: AGE moves with time and changes the
 *  tab padding, so compare cells, not text. */
export const contentRows = (s: string) =>
  s
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => {
      const cells = l.split("\t").filter((c) => c !== "");
      return [cells[0], cells[1], (cells.length > 3 ? cells.at(-1)! : "").split(",").sort().join(",")];
    })
    .sort();
