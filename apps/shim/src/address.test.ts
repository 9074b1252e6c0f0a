import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAddress, SOCKET_DIR, socketAddress, writeAddress } from "./address.ts";
import { groupOf } from "./group.ts";

test("the socket is named by sha256 of daemon address/namespace/group, as containerd 1.6 names it", () => {
  const want = createHash("sha256").update("/run/containerd/containerd.sock/default/c1").digest("hex");
  expect(socketAddress("/run/containerd/containerd.sock", "default", "c1")).toBe(
    `unix://${SOCKET_DIR}/${want}`,
  );
  // Go's filepath.Join cleans: a trailing slash on the address changes nothing.
  expect(socketAddress("/run/containerd/containerd.sock/", "default", "c1")).toBe(
    socketAddress("/run/containerd/containerd.sock", "default", "c1"),
  );
  expect(socketAddress("/a.sock", "ns1", "g")).not.toBe(socketAddress("/a.sock", "ns2", "g"));
});

test("group: the runc group annotation first, then the CRI sandbox id, else the container id", () => {
  const dir = mkdtempSync(join(tmpdir(), "shim-group-"));
  try {
    const spec = (annotations: Record<string, string>) =>
      writeFileSync(join(dir, "config.json"), JSON.stringify({ annotations }));
    spec({});
    expect(groupOf(dir, "c1")).toBe("c1");
    spec({ "io.kubernetes.cri.sandbox-id": "pod1" });
    expect(groupOf(dir, "c1")).toBe("pod1");
    spec({ "io.kubernetes.cri.sandbox-id": "pod1", "io.containerd.runc.v2.group": "g" });
    expect(groupOf(dir, "c1")).toBe("g");
    writeFileSync(join(dir, "config.json"), "{not json");
    expect(() => groupOf(dir, "c1")).toThrow("read OCI spec");
    writeAddress(dir, "unix:///x/y");
    expect(readFileSync(join(dir, "address"), "utf8")).toBe("unix:///x/y");
    expect(readAddress(dir)).toBe("unix:///x/y");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
