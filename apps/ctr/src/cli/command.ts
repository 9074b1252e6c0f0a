/** Lazily loaded command trees. A registry maps `"name,alias,…"` to a module loader; only the
 *  command the user names is imported (aliases are keys too, so an alias imports nothing else).
 *
 *    export default group("leases", "manage leases", {
 *      "list,ls": () => import("./ls.ts"),
 *      create: () => import("./create.ts"),
 *    }); */
import type { ArgsDef, CommandDef, SubCommandsDef } from "citty";

// biome-ignore lint/suspicious/noExplicitAny: commands have their own args types
export type AnyCommand = CommandDef<any>;
export type Loader = () => Promise<{ default: AnyCommand }>;
export type Registry = Record<string, Loader>;

async function withMeta(load: Loader, extra: { alias?: string[]; hidden?: boolean }): Promise<AnyCommand> {
  const cmd = (await load()).default;
  const meta = typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta;
  return { ...cmd, meta: { ...meta, ...extra } };
}

/** citty subcommands from a registry: the first name shows in help with its aliases; each
 *  alias is a hidden key that loads the same module. */
export function expand(registry: Registry): SubCommandsDef {
  const out: SubCommandsDef = {};
  for (const [names, load] of Object.entries(registry)) {
    const [name, ...aliases] = names.split(",").map((s) => s.trim());
    out[name!] = () => withMeta(load, { alias: aliases });
    for (const a of aliases) out[a] = () => withMeta(load, { hidden: true });
  }
  return out;
}

/** The names (first, then aliases) of a registry's entries, without loading them. */
export const namesOf = (registry: Registry) => Object.keys(registry).map((k) => k.split(","));

export function group(name: string, description: string, registry: Registry, args: ArgsDef = {}): AnyCommand {
  return { meta: { name, description }, args, subCommands: expand(registry) };
}

/** A Go ctr command bctr does not have: listed in help, and failing with `reason` (never
 *  silently doing nothing), whatever the arguments. */
export function notImplemented(name: string, description: string, reason: string): Loader {
  return async () => ({
    default: {
      meta: { name, description: `${description} (not implemented in bctr)` },
      run: async () => {
        const { CommandError } = await import("./errors.ts");
        throw new CommandError(`${name}: not implemented in bctr: ${reason}`);
      },
    },
  });
}
