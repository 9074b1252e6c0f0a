/** `bctr version`: client and server versions, and the server's UUID (Introspection.Server). */
import { Introspection } from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import { Version } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { isUnimplemented } from "../../cli/errors.ts";
import { formatArgs } from "../../cli/flags.ts";
import { checkFormat, printJSON, write } from "../../cli/output.ts";

export const CLIENT_VERSION = "0.1.0";

export default defineCommand({
  meta: { name: "version", description: "print the client and server versions" },
  args: { ...formatArgs },
  async run({ args }) {
    const format = checkFormat(args.format);
    const client = { version: CLIENT_VERSION, revision: "", runtime: `bun ${Bun.version}` };
    const d = daemon();
    const [v, uuid] = await Promise.all([
      d.client(Version).version({}),
      d
        .client(Introspection)
        .server({})
        .then((s) => s.uuid)
        .catch((e) => (isUnimplemented(e) ? "" : Promise.reject(e))),
    ]);
    if (format === "json") {
      printJSON({ client, server: { version: v.version, revision: v.revision, uuid } });
      return;
    }
    write(
      [
        "Client:",
        `  Version:  ${client.version}`,
        `  Bun version: ${Bun.version}`,
        "",
        "Server:",
        `  Version:  ${v.version}`,
        `  Revision: ${v.revision}`,
        `  UUID: ${uuid}`,
        "",
      ].join("\n"),
    );
  },
});
