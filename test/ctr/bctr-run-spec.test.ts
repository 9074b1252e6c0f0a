/** The container bctr creates equals the one Go ctr creates for the same image and flags: both
 *  made on one real containerd 1.6, then `ctr containers info` of each compared with the ids and
 *  times taken out (labels, runtime options, snapshot, the whole OCI spec: env merge, image
 *  user/cwd/entrypoint, mounts, tty, net-host, read-only, privileged caps and host devices,
 *  memory and cpu limits, namespaces). And `bctr containers info` prints what Go ctr prints.
 *  Run against containerd 1.6 and against bunkerd. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { makeRootfs } from "./bctr-run-helpers.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd") && hasBinary("runc");
const IMG = "docker.io/library/busybox:test";
const CFG = "docker.io/library/busybox:cfg";

// runc's state dir (/run/containerd/runc/<ns>) is shared by every containerd on the machine:
// ids must be unique across concurrent suites.
const uid = Math.random().toString(36).slice(2, 8);

/** `ctr c info` with what differs between two containers of one flag set blanked. */
const normalize = (info: string, id: string) =>
  info
    .replaceAll(`"${id}"`, '"ID"')
    .replaceAll(`/${id}"`, '/ID"')
    .replace(/"(CreatedAt|UpdatedAt)": "[^"]+"/g, '"$1": "T"');

// The spec is made client-side, so it must be the same whichever daemon stores it.
for (const kind of KINDS)
  describe.skipIf(!ready)(`bctr makes the same container as Go ctr (on ${kind})`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    let envFile: string;
    let rootfs: string;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      await importBusybox(d);
      await importBusybox(d, CFG, {
        entrypoint: ["/bin/echo", "ep"],
        cmd: ["a", "b"],
        env: ["PATH=/bin", "FOO=img"],
        workingDir: "/work",
        user: "app",
      });
      rootfs = join(d.dir, "rootfs");
      makeRootfs(rootfs);
      envFile = join(d.dir, "env");
      writeFileSync(envFile, "E1=x\n\nE2=y\n");
    }, 60_000);
    afterAll(async () => {
      for (const id of made) {
        await d.ctr(["tasks", "kill", "-s", "KILL", id]);
      }
      await Bun.sleep(200);
      for (const id of made) {
        await d.ctr(["tasks", "rm", "-f", id]);
        await d.ctr(["containers", "rm", id]);
      }
      await d?.stop();
    }, 60_000);
    const made: string[] = [];

    const cases: [name: string, verb: "create" | "run", flags: string[], image: string, cmd: string[]][] = [
      ["defaults", "create", [], IMG, []],
      [
        "args, env, env-file, cwd, labels",
        "create",
        [
          "--env",
          "A=b",
          "--env",
          "PATH=/x",
          "--env",
          "A=c",
          "--env",
          "NOPE",
          "--env-file",
          "ENVFILE",
          "--cwd",
          "/tmp",
          "--label",
          "x=y",
          "--label",
          "z",
        ],
        IMG,
        ["id", "-a"],
      ],
      ["tty, net-host, read-only", "create", ["-t", "--net-host", "--read-only"], IMG, []],
      [
        "privileged, memory limit, bind mount",
        "create",
        [
          "--privileged",
          "--memory-limit",
          "1000000",
          "--mount",
          "type=bind,src=/tmp,dst=/host,options=rbind:ro",
        ],
        IMG,
        [],
      ],
      ["image config: entrypoint, cmd, env, workdir, user by name", "create", [], CFG, []],
      ["image config with args", "create", ["--env", "FOO=cli"], CFG, ["x", "y"]],
      [
        "with-ns, runtime, snapshotter label",
        "create",
        [
          "--with-ns",
          "ipc:/proc/1/ns/ipc",
          "--runtime",
          "io.containerd.runc.v2",
          "--snapshotter-label",
          "k=v",
        ],
        IMG,
        [],
      ],
      [
        "annotations, capabilities, devices, cpu quota, rootfs propagation",
        "create",
        [
          "--annotation",
          "a=b",
          "--cap-add",
          "CAP_SYS_ADMIN",
          "--cap-drop",
          "CAP_NET_RAW",
          "--device",
          "/dev/fuse",
          "--device",
          "/dev/net",
          "--cpu-quota",
          "50000",
          "--rootfs-propagation",
          "rshared",
        ],
        IMG,
        [],
      ],
      [
        "--rootfs: a directory no snapshotter manages, no image config",
        "create",
        ["--rootfs"],
        "ROOTFS",
        ["sh"],
      ],
      ["run -d: cpus and cpu shares", "run", ["-d", "--cpus", "1.5"], IMG, ["sleep", "60"]],
      [
        "run -d: runc root option",
        "run",
        ["-d", "--runc-root", "/run/containerd/runc"],
        IMG,
        ["sleep", "60"],
      ],
    ];

    for (const [name, verb, flags, img, cmd] of cases) {
      let image = img;
      test(name, async () => {
        const goId = `go-${kind[0]}${uid}-${made.length}`;
        const bcId = `bc-${kind[0]}${uid}-${made.length}`;
        made.push(goId, bcId);
        const f = flags.map((x) => (x === "ENVFILE" ? envFile : x));
        if (image === "ROOTFS") image = rootfs;
        const pre = verb === "create" ? ["containers", "create"] : ["run"];
        ok(await d.ctr([...pre, ...f, image, goId, ...cmd]));
        ok(await bctr([...pre, ...f, image, bcId, ...cmd]));
        const goInfo = ok(await d.ctr(["containers", "info", goId]));
        const bcInfo = ok(await d.ctr(["containers", "info", bcId]));
        expect(normalize(bcInfo, bcId)).toBe(normalize(goInfo, goId));
        // bctr reads both back exactly as Go ctr prints them.
        expect(ok(await bctr(["containers", "info", goId]))).toBe(goInfo);
        expect(ok(await bctr(["containers", "info", bcId]))).toBe(bcInfo);
        expect(ok(await bctr(["containers", "info", "--spec", bcId]))).toBe(
          ok(await d.ctr(["containers", "info", "--spec", bcId])),
        );
      }, 60_000);
    }

    test("a user the image's /etc/passwd lacks is refused, and nothing is left", async () => {
      const id = `bc-${uid}-nouser`;
      const r = await bctr(["containers", "create", "--user", "ghost", IMG, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no users found");
      expect(ok(await d.ctr(["containers", "ls", "-q"]))).not.toContain(id);
      expect(ok(await d.ctr(["snapshots", "ls"]))).not.toContain(id);
    }, 60_000);
  });
