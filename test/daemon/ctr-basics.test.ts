/** The Go ctr (Debian's containerd 1.6) against a real bunkerd: version, plugins, unknown services. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const skip = !hasBinary("ctr");

describe.skipIf(skip)("Go ctr against bunkerd", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon("bunkerd");
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("ctr version shows the server's version, revision and a uuid kept across restarts", async () => {
    const r = await d.ctr(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /Server:\n\s+Version:\s+v\d+\.\d+\.\d+\n\s+Revision:\s+\S*\n\s+UUID: [0-9a-f-]{36}/,
    );
    const uuid = r.stdout.match(/UUID: (\S+)/)?.[1];
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(`${d.root}/io.containerd.grpc.v1.introspection/uuid`, "utf8").trim()).toBe(uuid!);
  });

  test("ctr plugins ls lists the router-level plugins as ok, in containerd's columns", async () => {
    const r = await d.ctr(["plugins", "ls"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^TYPE\s+ID\s+PLATFORMS\s+STATUS\s*$/);
    for (const id of ["version", "events", "introspection", "healthcheck"]) {
      expect(lines.some((l) => new RegExp(`^io\\.containerd\\.grpc\\.v1\\s+${id}\\s+-\\s+ok`).test(l))).toBe(
        true,
      );
    }
  });

  test("ctr plugins ls filters with containerd's syntax", async () => {
    const r = await d.ctr(["plugins", "ls", "type==io.containerd.grpc.v1,id==version"]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split("\n").slice(1);
    expect(rows.length).toBe(1);
    expect(rows[0]).toMatch(/version/);
    // As containerd's parser: a value is required after an operator (quote "" for empty).
    const bad = await d.ctr(["plugins", "ls", "id=="]);
    expect(bad.code).not.toBe(0);
    const broken = await d.ctr(["plugins", "ls", 'id=="open']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain("unterminated quoted string at position 4");
    expect(broken.stderr).toContain(": invalid argument");
  });

  test("ctr plugins ls -d shows type and id details", async () => {
    const r = await d.ctr(["plugins", "ls", "-d", "id==version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Type:\s+io\.containerd\.grpc\.v1\nID:\s+version/);
  });
});

describe.skipIf(skip)("unknown services and methods", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon("bunkerd", { extraConfig: "" });
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("a disabled service answers Unimplemented, which grpc-go reports as such (not a transport error)", async () => {
    const off = await startDaemon("bunkerd", {
      config: [
        "version = 2",
        'root = "$DIR/root"',
        'state = "$DIR/state"',
        'disabled_plugins = ["io.containerd.grpc.v1.introspection"]',
        "[grpc]",
        '  address = "$DIR/d.sock"',
      ].join("\n"),
    });
    try {
      const r = await off.ctr(["plugins", "ls"]);
      expect(r.code).not.toBe(0);
      // ctr turns the Unimplemented status into errdefs.ErrNotImplemented: "…: not implemented".
      expect(r.stderr).toContain(
        "ctr: unknown service containerd.services.introspection.v1.Introspection: not implemented",
      );
      // The daemon is unharmed (ctr version itself needs introspection for the uuid).
      const { versionOk } = await import("../harness/grpc.ts");
      expect(await versionOk(off.address)).toBe(true);
    } finally {
      await off.stop();
    }
  });

  test("an unknown method of a known service: Unimplemented with grpc-go's wording", async () => {
    const { grpcCall } = await import("../harness/grpc.ts");
    const r = await grpcCall(d.address, "/containerd.services.version.v1.Version/Nope", new Uint8Array());
    expect(r.httpStatus).toBe(200);
    expect(r.grpcStatus).toBe("12");
    expect(r.grpcMessage).toBe("unknown method Nope for service containerd.services.version.v1.Version");
    const svc = await grpcCall(d.address, "/no.such.Service/Nope", new Uint8Array());
    expect([svc.grpcStatus, svc.grpcMessage]).toEqual(["12", "unknown service no.such.Service"]);
  });
});
