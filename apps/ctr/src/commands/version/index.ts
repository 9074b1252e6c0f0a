/** `bctr version`: client and server versions, and the server's UUID (Introspection.Server).
 *  On a unix socket the two calls go through the minimal unary client (cli/unary.ts), so a run
 *  costs little more than Bun's start; if that does not plainly succeed, the Connect client
 *  repeats them and reports any error. */
import { defineCommand } from "citty";
import { fastCalls } from "../../cli/fast-call.ts";
import { formatArgs } from "../../cli/flags.ts";
import { checkFormat, printJSON, write } from "../../cli/output.ts";
import { stringFields } from "../../cli/wire.ts";

export const CLIENT_VERSION = "0.1.0";

interface ServerVersion {
  version: string;
  revision: string;
  uuid: string;
}

/** Version (VersionResponse: 1 version, 2 revision) and Introspection.Server (1 uuid) through
 *  the minimal client, or undefined. */
async function fast(): Promise<ServerVersion | undefined> {
  const empty = new Uint8Array(0);
  const [v, s] =
    (await fastCalls([
      { path: "/containerd.services.version.v1.Version/Version", message: empty },
      { path: "/containerd.services.introspection.v1.Introspection/Server", message: empty },
    ])) ?? [];
  if (!v || !s) return undefined;
  try {
    const vf = stringFields(v);
    return { version: vf.get(1) ?? "", revision: vf.get(2) ?? "", uuid: stringFields(s).get(1) ?? "" };
  } catch {
    return undefined;
  }
}

async function full(): Promise<ServerVersion> {
  const [{ daemon }, { isUnimplemented }, { Introspection }, { Version }] = await Promise.all([
    import("../../cli/client.ts"),
    import("../../cli/errors.ts"),
    import("@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts"),
    import("@bunkerd/proto/containerd/services/version/v1/version_pb.ts"),
  ]);
  const d = daemon();
  const [v, uuid] = await Promise.all([
    d.client(Version).version({}),
    d
      .client(Introspection)
      .server({})
      .then((s) => s.uuid)
      .catch((e) => (isUnimplemented(e) ? "" : Promise.reject(e))),
  ]);
  return { version: v.version, revision: v.revision, uuid };
}

export default defineCommand({
  meta: { name: "version", description: "print the client and server versions" },
  args: { ...formatArgs },
  async run({ args }) {
    const format = checkFormat(args.format);
    const client = { version: CLIENT_VERSION, revision: "", runtime: `bun ${Bun.version}` };
    const server = (await fast()) ?? (await full());
    if (format === "json") {
      printJSON({ client, server });
      return;
    }
    write(
      [
        "Client:",
        `  Version:  ${client.version}`,
        `  Bun version: ${Bun.version}`,
        "",
        "Server:",
        `  Version:  ${server.version}`,
        `  Revision: ${server.revision}`,
        `  UUID: ${server.uuid}`,
        "",
      ].join("\n"),
    );
  },
});
