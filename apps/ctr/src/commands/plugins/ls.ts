/** `bctr plugins ls [-q] [-d] [filter…]`: Introspection.Plugins, as Go ctr lists it. */
import {
  Introspection,
  type Plugin,
} from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import type { Platform } from "@bunkerd/proto/containerd/types/platform_pb.ts";
import { Code } from "@connectrpc/connect";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { checkFormat, col, printList, write } from "../../cli/output.ts";
import { formatTabs, type TabwriterOptions } from "../../cli/tabwriter.ts";

const WIDE: TabwriterOptions = { minwidth: 4, tabwidth: 8, padding: 4, padchar: " " };

const platformText = (p: Platform) => [p.os, p.architecture, p.variant].filter(Boolean).join("/");
const platformsOf = (p: Plugin) => [...new Set(p.platforms.map(platformText))].sort();

const statusOf = (p: Plugin) =>
  !p.initErr ? "ok" : p.initErr.message.includes("skip plugin") ? "skip" : "error";

function detailed(plugins: Plugin[]): string {
  // Go's fmt.Fprintln puts a space between operands: "Type:\t io.containerd…".
  const lines: string[] = [];
  plugins.forEach((p, i) => {
    if (i > 0) lines.push("\t\t\t");
    lines.push(`Type:\t ${p.type}`, `ID:\t ${p.id}`);
    if (p.requires.length) lines.push("Requires:\t", ...p.requires.map((r) => `\t ${r}`));
    if (p.platforms.length) lines.push(`Platforms:\t ${platformsOf(p).join(",")}`);
    const exports = Object.entries(p.exports);
    if (exports.length) lines.push("Exports:\t", ...exports.map(([k, v]) => `\t ${k} \t ${v}`));
    if (p.capabilities.length) lines.push(`Capabilities:\t ${p.capabilities.join(",")}`);
    if (p.initErr) {
      lines.push("Error:\t", `\t Code:\t ${codeName(p.initErr.code)}`, `\t Message:\t ${p.initErr.message}`);
    }
  });
  return formatTabs(lines.map((l) => `${l}\n`).join(""), WIDE);
}

/** grpc-go's codes.Code String(): "Unknown", "NotFound", … */
const codeName = (c: number) => (Code[c] as string | undefined) ?? `Code(${c})`;

export default defineCommand({
  meta: { name: "list", description: "lists containerd plugins" },
  args: {
    ...quietArg("print only the plugin ids"),
    detailed: { type: "boolean", alias: "d", description: "print detailed information about each plugin" },
    ...formatArgs,
  },
  async run({ args }) {
    const format = checkFormat(args.format);
    const { plugins } = await daemon().client(Introspection).plugins({ filters: args._ });
    if (args.detailed && format === "table" && !args.quiet) {
      write(detailed(plugins));
      return;
    }
    printList(plugins, {
      columns: [
        col("TYPE", (p) => p.type),
        col("ID", (p) => p.id),
        col("PLATFORMS", (p) => platformsOf(p).join(",") || "-", { json: platformsOf }),
        col("STATUS", statusOf),
        ...(format === "json"
          ? [
              col("REQUIRES", () => "", { json: (p: Plugin) => p.requires }),
              col("EXPORTS", () => "", { json: (p: Plugin) => p.exports }),
              col("CAPABILITIES", () => "", { json: (p: Plugin) => p.capabilities }),
              col("ERROR", () => "", { json: (p: Plugin) => p.initErr?.message ?? null }),
            ]
          : []),
      ],
      id: (p) => p.id,
      quiet: args.quiet,
      format: args.format,
      writer: WIDE,
    });
  },
});
