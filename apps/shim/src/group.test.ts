// Which shim a container goes to: the group annotations first, then the opt-in default group, then
// the container's own id; an unreadable spec is refused with its path.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { groupOf } from "./group.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function bundle(spec: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "shim-group-"));
  dirs.push(dir);
  writeFileSync(join(dir, "config.json"), typeof spec === "string" ? spec : JSON.stringify(spec));
  return dir;
}

describe("groupOf", () => {
  test("the runc group annotation wins over the sandbox id and the default group", () => {
    const b = bundle({
      annotations: { "io.containerd.runc.v2.group": "g1", "io.kubernetes.cri.sandbox-id": "pod" },
    });
    expect(groupOf(b, "c1", "all")).toBe("g1");
  });

  test("a pod's sandbox id groups its containers", () => {
    expect(groupOf(bundle({ annotations: { "io.kubernetes.cri.sandbox-id": "pod" } }), "c1")).toBe("pod");
  });

  test("without an annotation: the default group when set, else the container's id", () => {
    const b = bundle({ annotations: { "io.containerd.runc.v2.group": "" } });
    expect(groupOf(b, "c1", "all")).toBe("all");
    expect(groupOf(b, "c1", "")).toBe("c1");
    expect(groupOf(b, "c1", undefined)).toBe("c1");
  });

  test("a spec that is not JSON is refused, naming the file", () => {
    const b = bundle("{not json");
    expect(() => groupOf(b, "c1")).toThrow(join(b, "config.json"));
  });
});
