/**
 * Plugin sections against the plugins bunkerd has: each effective section is the plugin's defaults
 * with the file's keys laid over them (as containerd decodes a section onto its default struct).
 * A value of the wrong kind is an error; keys and sections no plugin reads are warnings.
 */
import { describe, Invalid } from "./errors.ts";
import type { PluginDefaults } from "./defaults.ts";
import { type Source, warningAt } from "./locate.ts";
import {
  cloneValue,
  deepMerge,
  isMarkedFloat,
  isTable,
  type KeyPath,
  type TomlTable,
  type TomlValue,
} from "./toml.ts";
import type { PluginConfig } from "./types.ts";

export function resolvePlugins(
  sections: Record<string, PluginConfig>,
  sources: Map<string, Source>,
  defaults: PluginDefaults,
  warnings: string[],
): Record<string, PluginConfig> {
  const out: Record<string, PluginConfig> = {};
  for (const [uri, table] of Object.entries(defaults)) out[uri] = cloneValue(table as TomlTable);
  const known = Object.keys(defaults).length > 0;
  for (const [uri, section] of Object.entries(sections)) {
    const source = sources.get(uri)!;
    const base = defaults[uri] as TomlTable | undefined;
    if (base === undefined) {
      if (known)
        warnings.push(
          warningAt(source, ["plugins", uri], "no bunkerd plugin reads this section; kept for containerd"),
        );
      out[uri] = section;
      continue;
    }
    checkKinds(section, base, ["plugins", uri], source, warnings);
    out[uri] = deepMerge(base, section);
  }
  return out;
}

type Kind = "string" | "number" | "boolean" | "array" | "table" | "date";

function kindOf(v: unknown): Kind | undefined {
  if (typeof v === "string" || typeof v === "boolean") return typeof v as Kind;
  if (typeof v === "number" || typeof v === "bigint") return "number";
  if (Array.isArray(v)) return "array";
  if (v instanceof Date) return "date";
  if (isTable(v)) return "table";
  return undefined;
}

const expected: Record<Kind, string> = {
  string: "must be a string",
  number: "must be a number",
  boolean: "must be true or false",
  array: "must be an array",
  table: "must be a table",
  date: "must be a date",
};

/**
 * Each key of `section` against the default beside it. A default table with no keys is a free-form
 * map (registry mirrors, runtimes), so what is under it is not checked.
 */
function checkKinds(
  section: TomlTable,
  base: TomlTable,
  path: KeyPath,
  source: Source,
  warnings: string[],
): void {
  const freeForm = Object.keys(base).length === 0;
  for (const [key, value] of Object.entries(section)) {
    const p = [...path, key];
    if (!Object.hasOwn(base, key)) {
      if (!freeForm) warnings.push(warningAt(source, p, "unknown key, the plugin does not read it"));
      continue;
    }
    const def = base[key] as TomlValue | null | undefined;
    const want = kindOf(def);
    if (want === undefined) continue;
    if (kindOf(value) !== want) throw new Invalid(p, `${expected[want]}, got ${describe(value)}`);
    // containerd refuses an integer where the plugin's field is a float64.
    if (
      want === "number" &&
      typeof def === "number" &&
      !Number.isInteger(def) &&
      (typeof value === "bigint" || (Number.isInteger(value) && !isMarkedFloat(section, key)))
    ) {
      throw new Invalid(p, `must be a float (write ${value}.0), got ${value}`);
    }
    if (want === "table") checkKinds(value as TomlTable, def as TomlTable, p, source, warnings);
  }
}
