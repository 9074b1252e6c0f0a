/** `bctr plugins ls [-q] [-d] [filter…]`: Introspection.Plugins, as Go ctr lists it. The
 *  call goes through the minimal unary client with a hand decoder (decode.ts), Connect and the
 *  schemas loading only if that does not plainly succeed (then they report the error). */
import { defineCommand } from "citty";
import { fastCalls } from "../../cli/fast-call.ts";
import { encodeStrings } from "../../cli/wire.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { checkFormat, col, printList, write } from "../../cli/output.ts";
import { formatTabs, type TabwriterOptions } from "../../cli/tabwriter.ts";
import { decodePlugins, type PluginInfo as Plugin } from "./decode.ts";

type Platform = Plugin["platforms"][number];

/** grpc-go's codes.Code names, by number. */
const CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

async function listPlugins(filters: string[]): Promise<Plugin[]> {
  const path = "/containerd.services.introspection.v1.Introspection/Plugins";
  const [reply] = (await fastCalls([{ path, message: encodeStrings(1, filters) }])) ?? [];
  if (reply) {
    try {
      return decodePlugins(reply);
    } catch {
      // malformed for our decoder: the full client decodes it
    }
  }
  const [{ daemon }, { Introspection }] = await Promise.all([
    import("../../cli/client.ts"),
    import("@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts"),
  ]);
  return (await daemon().client(Introspection).plugins({ filters })).plugins;
}

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
const codeName = (c: number) => CODE_NAMES[c] ?? `Code(${c})`;

export default defineCommand({
  meta: { name: "list", description: "lists containerd plugins" },
  args: {
    ...quietArg("print only the plugin ids"),
    detailed: { type: "boolean", alias: "d", description: "print detailed information about each plugin" },
    ...formatArgs,
  },
  async run({ args }) {
    const format = checkFormat(args.format);
    const plugins = await listPlugins(args._);
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
