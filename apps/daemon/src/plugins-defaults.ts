/** Every plugin's config defaults, by URI: what `bunkerd config default` prints under
 *  `[plugins."<type>.<id>"]` and what the config file is merged over. */
import { uriOf } from "@bunkerd/plugin-api";
import { builtins } from "./builtins.ts";

export function pluginDefaults(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const mod of Object.values(builtins)) {
    for (const r of [mod.default ?? [], mod.plugins ?? []].flat()) {
      if (r.config && Object.keys(r.config as object).length > 0) out[uriOf(r)] = r.config as object;
    }
  }
  return out;
}
