/** bctr's frame against bunkerd and containerd 1.6: version, plugins (same table as Go ctr),
 *  global flags and env, errors as one line with a non-zero exit, help and completion. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, isRoot, run, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr frame against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("version prints client and server, with the server's version and UUID", async () => {
      const out = ok(await bctr(["version"]));
      const go = ok(await d.ctr(["version"]));
      const server = (s: string) => s.slice(s.indexOf("Server:")).trim();
      expect(server(out)).toBe(server(go));
      expect(out).toMatch(/^Client:\n {2}Version: {2}\S+\n/);
      const json = JSON.parse(ok(await bctr(["version", "--format", "json"])));
      expect(json.server.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(server(go)).toContain(json.server.uuid);
    });

    test("plugins ls: the same table as Go ctr; -q ids; --format json; -d details", async () => {
      expect(ok(await bctr(["plugins", "ls"]))).toBe(ok(await d.ctr(["plugins", "ls"])));
      expect(ok(await bctr(["plugin", "list", "-q"]))).toBe(ok(await d.ctr(["plugins", "ls", "-q"])));
      const json = JSON.parse(ok(await bctr(["plugins", "ls", "--format", "json"])));
      expect(json.find((p: { id: string }) => p.id === "content")).toMatchObject({
        type: "io.containerd.content.v1",
        status: "ok",
      });
      const detailed = ok(await bctr(["plugins", "ls", "-d"]));
      expect(detailed).toMatch(/^Type: {10}io\.containerd\./);
      // Exports keys are a map (random order in Go): compare without them.
      const noExports = (s: string) =>
        s
          .split("\n")
          .filter((l) => !/^ {15}\S+ {2,}/.test(l))
          .join("\n");
      expect(noExports(detailed)).toBe(noExports(ok(await d.ctr(["plugins", "ls", "-d"]))));
    });

    test("address and namespace come from the environment when no flag is given", async () => {
      const env = { CONTAINERD_ADDRESS: d.address, CONTAINERD_NAMESPACE: "envns" };
      ok(await run([BCTR, "leases", "create", "--id", "a"], { env }));
      ok(await run([BCTR, "-n", "flagns", "leases", "create", "--id", "b"], { env }));
      const ls = ok(await run([BCTR, "namespaces", "ls", "-q"], { env }));
      expect(ls.split("\n")).toEqual(expect.arrayContaining(["envns", "flagns"]));
      expect(ok(await run([BCTR, "leases", "ls", "-q"], { env }))).toBe("a\n");
    });

    test("errors: one line naming what failed and why, exit code 1", async () => {
      const missing = await bctr(["images", "tag", "nope:1", "x:1"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe('bctr: image "nope:1": not found\n');
      const blob = await bctr(["content", "get", `sha256:${"0".repeat(64)}`]);
      expect(blob.code).toBe(1);
      expect(blob.stderr).toBe(`bctr: content digest sha256:${"0".repeat(64)}: not found\n`);
      ok(await bctr(["namespaces", "create", "dup"]));
      const dup = await bctr(["namespaces", "create", "dup"]);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toBe('bctr: namespace "dup": already exists\n');
      const noDaemon = await run([BCTR, "-a", `${d.dir}/nothing.sock`, "version"]);
      expect(noDaemon.code).toBe(1);
      expect(noDaemon.stderr).toBe(
        `bctr: cannot connect to ${d.dir}/nothing.sock: no such socket (is the daemon running?)\n`,
      );
      const badFormat = await bctr(["images", "ls", "--format", "yaml"]);
      expect(badFormat.code).toBe(1);
      expect(badFormat.stderr).toBe('bctr: invalid --format "yaml": want table or json\n');
    });
  });
}

describe("bctr without a daemon", () => {
  test("--help lists the groups with Go ctr's aliases", async () => {
    const r = await run([BCTR, "--help"], { env: { NO_COLOR: "1" } });
    expect(r.code).toBe(0);
    for (const line of [
      "images, image, i",
      "namespaces, namespace, ns",
      "plugins, plugin",
      "snapshots, snapshot",
    ]) {
      expect(r.stdout).toContain(line);
    }
    const sub = await run([BCTR, "images", "pull", "--help"], { env: { NO_COLOR: "1" } });
    expect(sub.stdout).toContain("--plain-http");
    expect(sub.stdout).toContain("--all-platforms");
  });

  test("an unknown command fails with usage and exit 1", async () => {
    const r = await run([BCTR, "imagez"], { env: { NO_COLOR: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("bctr: Unknown command imagez");
  });

  test("completion scripts for bash, zsh and fish know groups, verbs and flags", async () => {
    const bash = ok(await run([BCTR, "completion", "bash"]));
    expect(bash).toContain("complete -o default -F _bctr bctr");
    expect(bash).toMatch(/"images pull"\) words="[^"]*--plain-http/);
    // The script completes in a real bash.
    const words = Bun.spawnSync(
      ["bash", "-c", `${bash}\nCOMP_WORDS=(bctr images pu); COMP_CWORD=2; _bctr; echo "\${COMPREPLY[@]}"`],
      { stdout: "pipe" },
    );
    expect(words.stdout.toString().trim()).toBe("pull push");
    expect(ok(await run([BCTR, "completion", "zsh"]))).toContain("#compdef bctr");
    expect(ok(await run([BCTR, "completion", "fish"]))).toContain("complete -c bctr");
    const bad = await run([BCTR, "completion", "tcsh"]);
    expect(bad.code).toBe(1);
  });
});
