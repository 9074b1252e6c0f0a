/**
 * Line numbers for keys in TOML text. smol-toml returns values without positions, so errors and
 * warnings find their line here: a small scanner that follows table headers (`[a."b.c"]`,
 * `[[x]]`), dotted and quoted keys and inline tables, and steps over strings, arrays and
 * comments so that nothing inside a value is mistaken for a key. It runs on text smol-toml has
 * already accepted, so it is lenient rather than validating.
 */
import { type ConfigErrorLocation, formatLocation } from "./errors.ts";
import { formatKey, type KeyPath } from "./toml.ts";

/** Every key and table in `text`, in dotted form (see `formatKey`), mapped to its first line (1-based). */
export function keyLines(text: string): Map<string, number> {
  return new Scanner(text).scan();
}

/** The line of a dotted key such as `plugins."io.containerd.gc.v1.scheduler".pause_threshold`. */
export function locateKey(text: string, dottedKey: string): number | undefined {
  return keyLines(text).get(formatKey(splitKey(dottedKey)));
}

/** `a."b.c".d` → ["a", "b.c", "d"] */
export function splitKey(dotted: string): string[] {
  return new Scanner(dotted).readKey();
}

/** The line of the closest known ancestor of `path`: an array element reports its array's line. */
export function lineOf(lines: Map<string, number>, path: KeyPath): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatKey(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

const escapes: Record<string, string> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  e: "\x1b",
  '"': '"',
  "\\": "\\",
};

class Scanner {
  private pos = 0;
  private readonly lineStarts: number[] = [0];
  private readonly lines = new Map<string, number>();
  private readonly arrayCounts = new Map<string, number>();

  constructor(private readonly s: string) {
    for (let i = 0; i < s.length; i++) if (s[i] === "\n") this.lineStarts.push(i + 1);
  }

  scan(): Map<string, number> {
    let table: (string | number)[] = [];
    while (this.pos < this.s.length) {
      const before = this.pos;
      this.skipBlank();
      if (this.pos >= this.s.length) break;
      const line = this.lineAt(this.pos);
      if (this.s[this.pos] === "[") {
        table = this.readHeader();
        this.record(table, line);
      } else {
        const key = this.readKey();
        this.skipSpaces();
        if (this.s[this.pos] === "=") {
          this.pos++;
          const path = [...table, ...key];
          this.record(path, line);
          this.skipValue(path);
        }
      }
      if (this.pos === before) this.pos++;
    }
    return this.lines;
  }

  /** `[a.b]` or `[[a.b]]`; an array of tables gets its element index as the last segment. */
  private readHeader(): (string | number)[] {
    this.pos++;
    const isArray = this.s[this.pos] === "[";
    if (isArray) this.pos++;
    const keys = this.readKey();
    // A header below an array of tables (`[[a]]` then `[a.b]`) refers to its last element.
    const path: (string | number)[] = [];
    keys.forEach((k, i) => {
      path.push(k);
      const count = this.arrayCounts.get(formatKey(path));
      if (count !== undefined && i < keys.length - 1) path.push(count - 1);
    });
    if (isArray) {
      const name = formatKey(path);
      const n = this.arrayCounts.get(name) ?? 0;
      this.arrayCounts.set(name, n + 1);
      path.push(n);
    }
    this.skipLine();
    return path;
  }

  private record(path: (string | number)[], line: number): void {
    for (let n = 1; n <= path.length; n++) {
      const key = formatKey(path.slice(0, n));
      if (!this.lines.has(key)) this.lines.set(key, line);
    }
  }

  readKey(): string[] {
    const segs: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.s[this.pos];
      if (c === '"') segs.push(this.readBasicString());
      else if (c === "'") segs.push(this.readLiteralString());
      else {
        const start = this.pos;
        while (this.pos < this.s.length && !/[\s.=\]#"',{}]/.test(this.s[this.pos]!)) this.pos++;
        segs.push(this.s.slice(start, this.pos));
      }
      this.skipSpaces();
      if (this.s[this.pos] !== ".") return segs;
      this.pos++;
    }
  }

  private skipValue(path: (string | number)[]): void {
    this.skipSpaces();
    const c = this.s[this.pos];
    if (c === '"') {
      if (this.s.startsWith('"""', this.pos)) this.skipMultiline('"""');
      else this.readBasicString();
    } else if (c === "'") {
      if (this.s.startsWith("'''", this.pos)) this.skipMultiline("'''");
      else this.readLiteralString();
    } else if (c === "[") {
      this.skipArray();
    } else if (c === "{") {
      this.skipInlineTable(path);
    } else {
      while (this.pos < this.s.length && !/[\n#,\]}]/.test(this.s[this.pos]!)) this.pos++;
    }
  }

  private skipArray(): void {
    this.pos++;
    for (;;) {
      this.skipBlank();
      const c = this.s[this.pos];
      if (c === undefined) return;
      if (c === "]") {
        this.pos++;
        return;
      }
      if (c === ",") {
        this.pos++;
        continue;
      }
      const before = this.pos;
      this.skipValue([]);
      if (this.pos === before) this.pos++;
    }
  }

  /** Keys inside `{ ... }` are recorded: `grpc = { address = 1 }` locates `grpc.address`. */
  private skipInlineTable(path: (string | number)[]): void {
    this.pos++;
    for (;;) {
      this.skipBlank();
      const c = this.s[this.pos];
      if (c === undefined) return;
      if (c === "}") {
        this.pos++;
        return;
      }
      if (c === ",") {
        this.pos++;
        continue;
      }
      const before = this.pos;
      const line = this.lineAt(this.pos);
      const key = this.readKey();
      if (this.s[this.pos] === "=") {
        this.pos++;
        const inner = [...path, ...key];
        if (path.length > 0) this.record(inner, line);
        this.skipValue(inner);
      }
      if (this.pos === before) this.pos++;
    }
  }

  private readBasicString(): string {
    this.pos++;
    let out = "";
    while (this.pos < this.s.length) {
      const c = this.s[this.pos++]!;
      if (c === '"' || c === "\n") break;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.s[this.pos++] ?? "";
      if (e === "u" || e === "U" || e === "x") {
        const len = e === "u" ? 4 : e === "U" ? 8 : 2;
        out += String.fromCodePoint(Number.parseInt(this.s.slice(this.pos, this.pos + len), 16) || 0);
        this.pos += len;
      } else {
        out += escapes[e] ?? e;
      }
    }
    return out;
  }

  private readLiteralString(): string {
    const start = ++this.pos;
    while (this.pos < this.s.length && this.s[this.pos] !== "'" && this.s[this.pos] !== "\n") this.pos++;
    return this.s.slice(start, this.pos++);
  }

  private skipMultiline(delim: '"""' | "'''"): void {
    this.pos += 3;
    while (this.pos < this.s.length) {
      if (delim === '"""' && this.s[this.pos] === "\\") {
        this.pos += 2;
      } else if (this.s.startsWith(delim, this.pos)) {
        this.pos += 3;
        // Up to two more quotes may close the string: `""""` ends with a quote in the content.
        for (let i = 0; i < 2 && this.s[this.pos] === delim[0]; i++) this.pos++;
        return;
      } else {
        this.pos++;
      }
    }
  }

  private skipSpaces(): void {
    while (this.s[this.pos] === " " || this.s[this.pos] === "\t") this.pos++;
  }

  /** Spaces, newlines and comments. */
  private skipBlank(): void {
    for (;;) {
      const c = this.s[this.pos];
      if (c === " " || c === "\t" || c === "\r" || c === "\n") this.pos++;
      else if (c === "#") this.skipLine();
      else return;
    }
  }

  private skipLine(): void {
    while (this.pos < this.s.length && this.s[this.pos] !== "\n") this.pos++;
  }

  private lineAt(pos: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** A file read by the loader: its name and where its keys are. */
export interface Source {
  file: string;
  lines: Map<string, number>;
}

/** Where a key of a source is, for a ConfigError or a warning. */
export function at(source: Source, path: KeyPath): ConfigErrorLocation {
  return {
    file: source.file,
    key: path.length > 0 ? formatKey(path) : undefined,
    line: lineOf(source.lines, path),
  };
}

/** `file:line: key: message` */
export const warningAt = (source: Source, path: KeyPath, message: string): string =>
  `${formatLocation(at(source, path))}: ${message}`;
