/**
 * TOML values as the config module keeps them, and the writer for `config default` / `config dump`.
 *
 * Files are parsed with integers as BigInt so that an integer and a float stay distinct:
 * containerd refuses `pause_threshold = 1` where it wants a float64, and `mutation_threshold = 100.0`
 * where it wants an int, so a dump must write each number the way the file did. Tables handed to
 * plugins hold plain numbers (BigInt only beyond 2^53); the float-ness of integral floats (`1.0`) is
 * remembered beside them and read back by the writer.
 */
import { parse, TomlDate } from "smol-toml";
import { Invalid } from "./errors.ts";

export type TomlValue = string | number | bigint | boolean | Date | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}
export type KeyPath = readonly (string | number)[];

export const isTable = (v: unknown): v is TomlTable =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Parses TOML text; integers come back as BigInt, floats as numbers. Throws smol-toml's TomlError. */
export function parseRaw(text: string): TomlTable {
  return parse(text, { integersAsBigInt: true }) as TomlTable;
}

const int64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

/** TOML integers are 64-bit (containerd's parser refuses larger ones); a bigger literal is refused here too. */
export function checkInt64(value: TomlValue, path: KeyPath = []): void {
  if (typeof value === "bigint") {
    if (value < int64.min || value > int64.max) {
      throw new Invalid(path, `integer ${value} does not fit in 64 bits`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkInt64(v, [...path, i]);
    });
  } else if (isTable(value)) {
    for (const [k, v] of Object.entries(value)) checkInt64(v, [...path, k]);
  }
}

// Containers (tables, arrays) → keys whose value is a float with an integral value, such as `1.0`.
const integralFloats = new WeakMap<object, Set<string>>();

export function markFloat(container: object, key: string | number): void {
  const keys = integralFloats.get(container) ?? new Set<string>();
  integralFloats.set(container, keys);
  keys.add(String(key));
}

export const isMarkedFloat = (container: object, key: string | number): boolean =>
  integralFloats.get(container)?.has(String(key)) ?? false;

/** Own-property write that is safe for a key named `__proto__`. */
export function setOwn(target: TomlTable, key: string, value: TomlValue): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * Turns a raw parsed value into what plugins receive: BigInt → number when it is safe, integral
 * floats remembered (see `markFloat`). Returns fresh containers.
 */
export function normalize(value: TomlValue): TomlValue {
  if (Array.isArray(value)) {
    const out: TomlValue[] = [];
    value.forEach((v, i) => {
      out.push(normalizeScalar(v, out, i));
    });
    return out;
  }
  if (isTable(value)) {
    const out: TomlTable = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, normalizeScalar(v, out, k));
    return out;
  }
  return value;
}

function normalizeScalar(v: TomlValue, container: object, key: string | number): TomlValue {
  if (typeof v === "bigint") {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (typeof v === "number" && Number.isInteger(v)) markFloat(container, key);
  return normalize(v);
}

/** Deep copy of a table, keeping integral-float marks. Dates are shared (they are never mutated). */
export function cloneValue<T extends TomlValue>(value: T): T {
  if (Array.isArray(value)) {
    const out: TomlValue[] = [];
    value.forEach((v, i) => {
      out.push(cloneValue(v));
      if (isMarkedFloat(value, i)) markFloat(out, i);
    });
    return out as T;
  }
  if (isTable(value)) {
    const out: TomlTable = {};
    for (const [k, v] of Object.entries(value)) {
      setOwn(out, k, cloneValue(v));
      if (isMarkedFloat(value, k)) markFloat(out, k);
    }
    return out as T;
  }
  return value;
}

/**
 * `over` laid onto a copy of `base`: tables merge key by key, anything else (arrays included) is
 * replaced. That is what decoding a plugin's TOML onto its default config struct does in containerd.
 */
export function deepMerge(base: TomlTable, over: TomlTable): TomlTable {
  const out = cloneValue(base);
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (isTable(b) && isTable(v)) {
      setOwn(out, k, deepMerge(b, v));
    } else {
      setOwn(out, k, cloneValue(v));
      if (isMarkedFloat(over, k)) markFloat(out, k);
    }
  }
  return out;
}

// ---- writing ----

const bareKey = /^[A-Za-z0-9_-]+$/;

/** A key as TOML writes it: bare when it can be, else a quoted string. */
export const quoteKey = (key: string): string => (bareKey.test(key) ? key : quoteString(key));

/** Dotted form of a key path, as errors and warnings show it: `plugins."io.containerd.gc.v1.scheduler".x`. */
export function formatKey(path: KeyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += (out === "" ? "" : ".") + quoteKey(seg);
  }
  return out;
}

export function quoteString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function formatNumber(n: number, asFloat: boolean): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Number.POSITIVE_INFINITY) return "inf";
  if (n === Number.NEGATIVE_INFINITY) return "-inf";
  if (!Number.isInteger(n)) return String(n);
  if (!asFloat) return BigInt(n).toString();
  const s = String(n);
  return /[e.]/.test(s) ? s : `${s}.0`;
}

function formatValue(v: TomlValue, container: object, key: string | number): string {
  if (typeof v === "string") return quoteString(v);
  if (typeof v === "number") return formatNumber(v, isMarkedFloat(container, key));
  if (typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (v instanceof TomlDate) return v.toISOString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) {
    const items = v.filter(present).map((item, i) => formatValue(item, v, i));
    return `[${items.join(", ")}]`;
  }
  const entries = sortedEntries(v).map(([k, item]) => `${quoteKey(k)} = ${formatValue(item, v, k)}`);
  return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
}

const present = (v: unknown): v is TomlValue => v !== undefined && v !== null && typeof v !== "function";

function sortedEntries(t: TomlTable): [string, TomlValue][] {
  return Object.entries(t)
    .filter((e): e is [string, TomlValue] => present(e[1]))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Writes a table the way containerd's `config default` does: keys sorted, values before sub-tables,
 * every table with a header (empty ones too), two spaces of indent per level. Arrays of tables are
 * written inline. `null`/`undefined` values are left out (TOML has no null).
 */
export function stringifyToml(table: TomlTable): string {
  const lines: string[] = [];
  writeTable(lines, [], table);
  return `${lines.join("\n").replace(/^\n+/, "")}\n`;
}

function writeTable(lines: string[], path: string[], table: TomlTable): void {
  const indent = "  ".repeat(path.length);
  const entries = sortedEntries(table);
  for (const [k, v] of entries) {
    if (!isTable(v)) lines.push(`${indent}${quoteKey(k)} = ${formatValue(v, table, k)}`);
  }
  for (const [k, v] of entries) {
    if (!isTable(v)) continue;
    const sub = [...path, k];
    lines.push("", `${"  ".repeat(path.length)}[${sub.map(quoteKey).join(".")}]`);
    writeTable(lines, sub, v);
  }
}
