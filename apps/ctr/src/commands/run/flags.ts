/** Go-style flag parsing for the commands that take a command line of their own (`run`,
 *  `containers create`, `tasks exec`): flags stop at the first positional word, as urfave/cli
 *  parses them in ctr, so `bctr run IMG id sh -c 'exit 3'` keeps `-c` for the container. The
 *  same table gives citty its argument list for help. */
import type { ArgsDef } from "citty";
import { UsageError } from "../../cli/errors.ts";

export type FlagKind = "bool" | "string" | "strings" | "number";

export interface FlagDef {
  kind: FlagKind;
  alias?: string;
  description: string;
  default?: string | number | boolean;
  /** Environment variable read when the flag is absent (`[$NAME]` in ctr's help). */
  env?: string;
}

export type FlagTable = Record<string, FlagDef>;

export type FlagValues<T extends FlagTable> = {
  [K in keyof T]: T[K]["kind"] extends "bool"
    ? boolean
    : T[K]["kind"] extends "strings"
      ? string[]
      : T[K]["kind"] extends "number"
        ? number | undefined
        : string | undefined;
};

export interface Parsed<T extends FlagTable> {
  flags: FlagValues<T>;
  /** Which flags the command line named (Go's context.IsSet). */
  set: Set<string>;
  args: string[];
}

export function parseFlags<T extends FlagTable>(table: T, argv: readonly string[]): Parsed<T> {
  const byName = new Map<string, string>();
  for (const [name, def] of Object.entries(table)) {
    byName.set(name, name);
    if (def.alias) byName.set(def.alias, name);
  }
  const values: Record<string, unknown> = {};
  const set = new Set<string>();
  for (const [name, def] of Object.entries(table)) {
    const env = def.env ? process.env[def.env] : undefined;
    if (def.kind === "bool") values[name] = def.default ?? false;
    else if (def.kind === "strings") values[name] = [];
    else if (def.kind === "number") values[name] = env !== undefined ? Number(env) : def.default;
    else values[name] = env ?? def.default;
  }
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const word = eq >= 0 ? body.slice(0, eq) : body;
    const name = byName.get(word);
    if (!name) throw new UsageError(`flag provided but not defined: -${word}`);
    const def = table[name]!;
    set.add(name);
    if (def.kind === "bool") {
      const v = eq >= 0 ? body.slice(eq + 1) : "true";
      if (!["true", "false", "1", "0", "t", "f", "TRUE", "FALSE", "True", "False"].includes(v)) {
        throw new UsageError(`invalid boolean value ${JSON.stringify(v)} for -${word}`);
      }
      values[name] = ["true", "1", "t", "TRUE", "True"].includes(v);
      continue;
    }
    let v: string;
    if (eq >= 0) v = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${word}`);
      v = argv[++i]!;
    }
    if (def.kind === "strings") (values[name] as string[]).push(v);
    else if (def.kind === "number") {
      const n = Number(v);
      if (v.trim() === "" || !Number.isFinite(n)) {
        throw new UsageError(`invalid value ${JSON.stringify(v)} for flag -${word}: parse error`);
      }
      values[name] = n;
    } else values[name] = v;
  }
  return { flags: values as FlagValues<T>, set, args: argv.slice(i) };
}

/** citty's view of the table, for `--help`. */
export function cittyArgs(table: FlagTable, positionals: Record<string, string> = {}): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, description] of Object.entries(positionals)) {
    out[name] = { type: "positional", required: false, description };
  }
  for (const [name, def] of Object.entries(table)) {
    out[name] = {
      type: def.kind === "bool" ? "boolean" : "string",
      description: def.env ? `${def.description} [$${def.env}]` : def.description,
      ...(def.alias ? { alias: def.alias } : {}),
    };
  }
  return out;
}

/** ctr's LabelArgs: `k=v` words as a map; a word without `=` is a key set to "true". */
export function labelArgs(words: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) out[w] = "true";
    else out[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return out;
}
