/** Introspection.Plugins' reply decoded by hand (cli/wire.ts), so `plugins ls` needs neither
 *  Connect nor the generated schemas. Field numbers of containerd's introspection.proto:
 *  PluginsResponse.plugins = 1; Plugin: type 1, id 2, requires 3, platforms 4 (os 1,
 *  architecture 2, variant 3), exports 5 (map: key 1, value 2), capabilities 6, init_err 7
 *  (google.rpc.Status: code 1, message 2). */
import { readFields, text } from "../../cli/wire.ts";

export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  platforms: { os: string; architecture: string; variant: string }[];
  exports: Record<string, string>;
  capabilities: string[];
  initErr?: { code: number; message: string };
}

function plugin(bytes: Uint8Array): PluginInfo {
  const p: PluginInfo = { type: "", id: "", requires: [], platforms: [], exports: {}, capabilities: [] };
  for (const f of readFields(bytes)) {
    if (!f.bytes) continue;
    if (f.field === 1) p.type = text(f);
    else if (f.field === 2) p.id = text(f);
    else if (f.field === 3) p.requires.push(text(f));
    else if (f.field === 4) {
      const plat = { os: "", architecture: "", variant: "" };
      for (const g of readFields(f.bytes)) {
        if (g.field === 1) plat.os = text(g);
        else if (g.field === 2) plat.architecture = text(g);
        else if (g.field === 3) plat.variant = text(g);
      }
      p.platforms.push(plat);
    } else if (f.field === 5) {
      let k = "";
      let v = "";
      for (const g of readFields(f.bytes)) {
        if (g.field === 1) k = text(g);
        else if (g.field === 2) v = text(g);
      }
      p.exports[k] = v;
    } else if (f.field === 6) p.capabilities.push(text(f));
    else if (f.field === 7) {
      const err = { code: 0, message: "" };
      for (const g of readFields(f.bytes)) {
        if (g.field === 1) err.code = g.int ?? 0;
        else if (g.field === 2) err.message = text(g);
      }
      p.initErr = err;
    }
  }
  return p;
}

export function decodePlugins(reply: Uint8Array): PluginInfo[] {
  return readFields(reply)
    .filter((f) => f.field === 1 && f.bytes)
    .map((f) => plugin(f.bytes!));
}
