/** Every bundled plugin module, imported (see builtin-modules.ts for the list). For what
 *  needs all records at once, e.g. `bunkerd config default`; a worker must not import this. */
import type { PluginModule } from "@bunkerd/plugin-api";
import { builtinModules } from "./builtin-modules.ts";

const names = Object.keys(builtinModules);
const mods = await Promise.all(names.map((n) => builtinModules[n]!()));

export const builtins: Record<string, PluginModule> = Object.fromEntries(names.map((n, i) => [n, mods[i]!]));
