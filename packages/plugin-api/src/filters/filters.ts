/** containerd's filter syntax, used by every List call and by events Subscribe.
 *
 *    filters  := filter ( | filter )*          several filter strings are alternatives (OR)
 *    filter   := selector ( "," selector )*    selectors in one string must all hold (AND)
 *    selector := fieldpath [ op value ]        no op: the field is present and non-empty
 *    fieldpath:= field ( "." field )*          fields may be quoted: labels."a.b/c"
 *    op       := "==" | "!=" | "~="            ~= is a regular expression match
 *    value    := quoted | run of chars up to ","
 *
 *  Quoted strings use "…" (Go escapes), /…/ or |…| (taken literally, handy for regexes). */
import { invalidArgument } from "../errors/kinds.ts";

export type Operator = "==" | "!=" | "~=" | "present";
export interface Selector {
  path: string[];
  op: Operator;
  value: string;
  re?: RegExp;
}
/** One filter string: all selectors must match. */
export type Conjunction = Selector[];

/** How a filter reads a field of the thing being filtered. */
export type FieldLookup = (path: string[]) => string | undefined;

const isIdent = (c: string) => /[A-Za-z0-9_]/.test(c);

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  get done() {
    return this.i >= this.s.length;
  }
  peek(n = 0) {
    return this.s[this.i + n] ?? "";
  }
  fail(what: string): never {
    throw invalidArgument(`filters: ${what} at position ${this.i} in ${JSON.stringify(this.s)}`);
  }
  skipSpace() {
    while (this.peek() === " " || this.peek() === "\t") this.i++;
  }
  quoted(): string | undefined {
    const q = this.peek();
    if (q === "/" || q === "|") {
      const end = this.s.indexOf(q, this.i + 1);
      if (end < 0) this.fail("unterminated quoted string");
      const v = this.s.slice(this.i + 1, end);
      this.i = end + 1;
      return v;
    }
    if (q !== '"') return undefined;
    let j = this.i + 1;
    let out = "";
    for (;;) {
      const c = this.s[j];
      if (c === undefined) this.fail("unterminated quoted string");
      if (c === '"') break;
      if (c === "\\") {
        const n = this.s[j + 1];
        const esc: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", "/": "/" };
        if (n === undefined || !(n in esc)) this.fail("bad escape in quoted string");
        out += esc[n];
        j += 2;
        continue;
      }
      out += c;
      j++;
    }
    this.i = j + 1;
    return out;
  }
  field(): string {
    const q = this.quoted();
    if (q !== undefined) return q;
    const start = this.i;
    while (!this.done && isIdent(this.peek())) this.i++;
    if (this.i === start) this.fail("expected a field name");
    return this.s.slice(start, this.i);
  }
  value(): string {
    this.skipSpace();
    const q = this.quoted();
    if (q !== undefined) return q;
    const start = this.i;
    while (!this.done && this.peek() !== ",") this.i++;
    const v = this.s.slice(start, this.i).trim();
    // containerd's parser wants a value after an operator; "" must be quoted.
    if (v === "") this.fail("expected a value");
    return v;
  }
}

export function parseFilter(s: string): Conjunction {
  const sc = new Scanner(s);
  const out: Conjunction = [];
  for (;;) {
    sc.skipSpace();
    const path = [sc.field()];
    while (sc.peek() === ".") {
      sc.i++;
      path.push(sc.field());
    }
    sc.skipSpace();
    const two = sc.peek() + sc.peek(1);
    if (two === "==" || two === "!=" || two === "~=") {
      sc.i += 2;
      const value = sc.value();
      const sel: Selector = { path, op: two, value };
      if (two === "~=") {
        try {
          sel.re = new RegExp(value);
        } catch {
          sc.fail(`bad regular expression ${JSON.stringify(value)}`);
        }
      }
      out.push(sel);
    } else {
      out.push({ path, op: "present", value: "" });
    }
    sc.skipSpace();
    if (sc.done) return out;
    if (sc.peek() !== ",") sc.fail(`unexpected ${JSON.stringify(sc.peek())}`);
    sc.i++;
  }
}

/** Several filter strings are alternatives; none at all matches everything. */
export function parseFilters(filters: readonly string[]): Conjunction[] {
  return filters.filter((f) => f.trim() !== "").map(parseFilter);
}

export function matchSelector(sel: Selector, lookup: FieldLookup): boolean {
  const v = lookup(sel.path);
  switch (sel.op) {
    case "present":
      return v !== undefined && v !== "";
    case "==":
      return v === sel.value;
    case "!=":
      return v !== sel.value;
    case "~=":
      // containerd matches a missing field as "".
      return sel.re!.test(v ?? "");
  }
}

export function matchFilters(parsed: Conjunction[], lookup: FieldLookup): boolean {
  if (parsed.length === 0) return true;
  return parsed.some((conj) => conj.every((sel) => matchSelector(sel, lookup)));
}

/** A lookup over a plain record with a `labels` map, the usual shape of containerd objects. */
export function recordLookup(
  fields: Record<string, string | undefined>,
  labels?: Record<string, string>,
): FieldLookup {
  return (path) => {
    if (path[0] === "labels" && path.length > 1) return labels?.[path.slice(1).join(".")];
    return fields[path.join(".")];
  };
}
