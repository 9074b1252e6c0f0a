/** Pull/push progress on the terminal. On a TTY: one live line per blob (name, state, bytes of
 *  total, speed), redrawn in place at most every 100 ms. Otherwise: a plain line whenever a
 *  blob changes state, so logs stay readable. Both end with a summary line. */
import { bytes } from "../cli/units.ts";

export type State =
  | "waiting"
  | "downloading"
  | "uploading"
  /** Stored, its unpack still to come. */
  | "downloaded"
  | "unpacking"
  | "exists"
  | "done";

interface Row {
  name: string;
  state: State;
  offset: number;
  total: number;
  started: number;
  /** When its bytes were all there (`downloaded`, `done`, `exists`): the end of its speed. */
  ended?: number;
}

const ESC = "\u001b[";

export class ProgressView {
  private readonly rows = new Map<string, Row>();
  private readonly lines: string[] = [];
  private drawn = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly start = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    tty?: boolean,
  ) {
    this.tty = tty ?? !!out.isTTY;
    if (this.tty) this.timer = setInterval(() => this.draw(), 100);
  }

  /** A status line above the blobs ("resolving …", "saved …"). */
  note(line: string): void {
    if (this.tty) {
      this.lines.push(line);
      this.firstDraw();
    } else this.out.write(`${line}\n`);
  }

  /** Draws at once the first time, so even a pull shorter than one tick shows a live frame. */
  private firstDraw(): void {
    if (this.drawn === 0) this.draw();
  }

  update(name: string, state: State, offset = 0, total = 0): void {
    const now = Date.now();
    let row = this.rows.get(name);
    const changed = !row || row.state !== state;
    if (!row) {
      row = { name, state, offset, total, started: now };
      this.rows.set(name, row);
    }
    if (row.state === "waiting" && state !== "waiting") row.started = now;
    // Unpacking counts its own bytes, from where the unpack reports it is.
    row.offset = state === "unpacking" && changed ? offset : Math.max(row.offset, offset);
    row.state = state;
    if (total) row.total = total;
    if ((state === "done" || state === "exists" || state === "downloaded") && !row.ended) {
      row.ended = now;
      if (row.total) row.offset = row.total;
    }
    if (!this.tty && changed) this.out.write(`${this.format(row, now)}\n`);
    if (this.tty) this.firstDraw();
  }

  private format(r: Row, now: number): string {
    const size = r.total ? `${bytes(r.offset)}/${bytes(r.total)}` : bytes(r.offset);
    const secs = ((r.ended ?? now) - r.started) / 1000;
    const speed =
      r.state === "downloading" || r.state === "uploading" || r.state === "downloaded" || r.state === "done"
        ? secs > 0.05 && r.offset > 0
          ? ` ${bytes(r.offset / secs)}/s`
          : ""
        : "";
    return `${r.name}: ${r.state.padEnd(11)} ${size}${speed}`;
  }

  private draw(): void {
    const now = Date.now();
    const text = [...this.lines, ...[...this.rows.values()].map((r) => this.format(r, now))];
    // Up to the first line we drew, then rewrite each line, clearing what was there.
    let s = this.drawn > 0 ? `${ESC}${this.drawn}F` : "";
    for (const l of text) s += `${ESC}2K${l.slice(0, (this.out.columns || 200) - 1)}\n`;
    this.out.write(s);
    this.drawn = text.length;
  }

  /** Final state, then the summary. */
  finish(ok = true): void {
    if (this.timer) clearInterval(this.timer);
    // A layer stored but not unpacked by this pull (another one committed its snapshot first).
    if (ok) for (const r of this.rows.values()) if (r.state === "downloaded") this.update(r.name, "done");
    if (this.tty) this.draw();
    const secs = (Date.now() - this.start) / 1000;
    const total = [...this.rows.values()].reduce((n, r) => n + (r.state === "exists" ? 0 : r.offset), 0);
    if (ok)
      this.out.write(
        `elapsed: ${secs.toFixed(1)} s\ttotal: ${bytes(total)}\t(${bytes(total / Math.max(secs, 0.001))}/s)\n`,
      );
  }
}
