/** buildSpec against specs Go ctr 1.6.20 made for the same image config and flags (fixtures in
 *  testdata/, taken with `ctr containers info`), with the rootfs's passwd/group from a temp dir. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { directoryFiles, orderSpec, type RootfsFiles } from "../../oci/index.ts";
import { containerFlags } from "./container-flags.ts";
import { buildSpec } from "./container.ts";
import { parseFlags } from "./flags.ts";

const images = {
  test: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] },
  cfg: {
    Env: ["PATH=/bin", "FOO=img"],
    Entrypoint: ["/bin/echo", "ep"],
    Cmd: ["a", "b"],
    WorkingDir: "/work",
    User: "app",
  },
};

let dir: string;
let root: RootfsFiles;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bctr-spec-"));
  mkdirSync(join(dir, "etc"));
  writeFileSync(
    join(dir, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
  );
  writeFileSync(join(dir, "etc/group"), "root:x:0:\napp:x:1000:\nextra:x:1500:app\n");
  root = directoryFiles(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixtures = readdirSync(join(import.meta.dir, "testdata")).filter((f) => f.endsWith(".json"));

test.each(fixtures)("%s: the spec equals Go ctr's", async (file) => {
  const fx = JSON.parse(readFileSync(join(import.meta.dir, "testdata", file), "utf8"));
  const { flags, set, args } = parseFlags(containerFlags, fx.argv);
  const [ref, id, ...cmd] = args as [string, string, ...string[]];
  const spec = await buildSpec(
    "default",
    { ref, id, args: cmd, flags, set },
    images[fx.image as "test" | "cfg"],
    root,
  );
  // --net-host adds HOSTNAME=<this machine's name>: the fixture was taken on a host named "vm".
  const expected = JSON.parse(JSON.stringify(fx.spec).replace("HOSTNAME=vm", `HOSTNAME=${hostname()}`));
  expect(orderSpec(spec)).toEqual(expected);
  // Key order too: containerd stores these bytes, and Go writes struct fields in order.
  expect(JSON.stringify(orderSpec(spec))).toBe(JSON.stringify(expected));
});

test("a user missing from the image's passwd is refused", async () => {
  const { flags, set } = parseFlags(containerFlags, ["--user", "ghost"]);
  const input = { ref: "x", id: "c", args: [], flags, set };
  await expect(buildSpec("default", input, images.test, root)).rejects.toThrow("no users found");
});

test("--user uid:gid needs no passwd entry; by name takes the supplementary groups", async () => {
  const cases: [string, { uid: number; gid: number; additionalGids: number[] }][] = [
    ["1000:1500", { uid: 1000, gid: 1500, additionalGids: [1500] }],
    ["app", { uid: 1000, gid: 1000, additionalGids: [1000, 1500] }],
    ["4242", { uid: 4242, gid: 0, additionalGids: [0] }],
    ["app:extra", { uid: 1000, gid: 1500, additionalGids: [1500] }],
  ];
  for (const [user, want] of cases) {
    const { flags, set } = parseFlags(containerFlags, ["--user", user]);
    const spec = await buildSpec("ns", { ref: "x", id: "c", args: [], flags, set }, images.test, root);
    expect(spec.process?.user).toEqual(want);
    expect(spec.linux?.cgroupsPath).toBe("/ns/c");
  }
});
