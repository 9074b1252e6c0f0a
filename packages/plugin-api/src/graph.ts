/** The plugin graph: which plugins run, in which order. containerd sorts plugins so that
 *  each comes after what it requires (by type, or "*" for everything), drops disabled ones,
 *  and fails the boot when a required plugin is missing or did not initialise. */
import { invalidArgument } from "./errors/kinds.ts";
import { type PluginRecord, uriOf } from "./plugin.ts";

export interface GraphOptions {
  disabled?: string[];
}

/** Order plugins so that requirements come first; registration order breaks ties (stable). */
export function orderPlugins<R extends PluginRecord<unknown, unknown>>(
  records: R[],
  opts: GraphOptions = {},
): R[] {
  const disabled = new Set(opts.disabled ?? []);
  const live = records.filter((r) => !disabled.has(uriOf(r)));
  const seen = new Set<string>();
  for (const r of live) {
    const u = uriOf(r);
    if (seen.has(u)) throw invalidArgument(`plugin ${u} registered twice`);
    seen.add(u);
  }
  const out: R[] = [];
  const state = new Map<R, "visiting" | "done">();
  const visit = (r: R, path: string[]) => {
    const s = state.get(r);
    if (s === "done") return;
    if (s === "visiting")
      throw invalidArgument(`plugin dependency cycle: ${[...path, uriOf(r)].join(" -> ")}`);
    state.set(r, "visiting");
    for (const req of r.requires ?? []) {
      if (req === "*") continue; // placed after everything else below
      for (const dep of live) {
        if (dep !== r && (dep.type === req || uriOf(dep) === req)) visit(dep, [...path, uriOf(r)]);
      }
    }
    state.set(r, "done");
    out.push(r);
  };
  const wildcard = live.filter((r) => r.requires?.includes("*"));
  for (const r of live) if (!wildcard.includes(r)) visit(r, []);
  for (const r of wildcard) visit(r, []);
  return out;
}

/** The URIs in `required` that are not among the registered, enabled plugins. */
export function missingRequired(
  records: PluginRecord<unknown, unknown>[],
  required: string[],
  disabled: string[] = [],
) {
  const have = new Set(records.map(uriOf).filter((u) => !disabled.includes(u)));
  return required.filter((u) => !have.has(u));
}
