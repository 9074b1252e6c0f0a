/** The Go ctr (1.6, client-side pull) pulls into bunkerd from a distribution registry behind
 *  Bearer token auth: the token realm is served by the test, ctr gets its token with
 *  `--user user:pass` (OAuth2 password grant), and bunkerd ends up with the image, its
 *  chain-ID snapshots and the right files. A wrong password fails clearly and leaves no image. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createResolver } from "@bunkerd/registry";
import { makeCerts, type TestCerts } from "../../packages/registry/src/testutil/certs.ts";
import { buildImage, type TestImage } from "../../packages/registry/src/testutil/image.ts";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { pushImage } from "../../packages/registry/src/testutil/roundtrip.ts";
import { startTokenServer, type TokenServer } from "../../packages/registry/src/testutil/token-server.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const ready = canRunRegistry() && hasBinary("ctr");
const SERVICE = "bunkerd-test-registry";
const ISSUER = "bunkerd-test-issuer";
const alice = { username: "alice", secret: "wonderland" };

describe.skipIf(!ready)("Go ctr pull from a registry with token auth", () => {
  let work: string;
  let certs: TestCerts;
  let tokens: TokenServer;
  let registry: TestRegistry;
  let bunker: DaemonHandle;
  let image: TestImage;
  let ref: string;

  beforeAll(async () => {
    work = mkdtempSync("/tmp/registry-auth-");
    certs = makeCerts(work);
    // Anonymous requests get no action at all: every pull needs alice's token.
    tokens = startTokenServer({
      certFile: certs.tokenCert,
      keyFile: certs.tokenKey,
      issuer: ISSUER,
      service: SERVICE,
      users: { alice: alice.secret },
      anonymous: [],
    });
    registry = await startRegistry({
      auth: {
        token: { realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootCertBundle: certs.tokenCert },
      },
    });
    image = buildImage({
      files: [
        { "etc/hostname": "private\n", "etc/motd": "only for alice\n" },
        { "opt/data.bin": crypto.getRandomValues(new Uint8Array(300_000)) },
      ],
    });
    ref = `${registry.host}/private/app:v1`;
    const pusher = createResolver({ plainHttp: true, credentials: () => alice, retryDelayMs: 10 });
    await pushImage(pusher, ref, image);
    bunker = await startDaemon("bunkerd");
  }, 120_000);

  afterAll(async () => {
    await bunker?.stop();
    await registry?.stop();
    tokens?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const imageNames = async () =>
    (await bunker.ctr(["images", "ls", "-q"])).stdout.split("\n").filter((l) => l.length > 0);

  test("without credentials the pull is refused and no image is recorded", async () => {
    const r = await bunker.ctr(["images", "pull", "--plain-http", ref], { timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    // The anonymous token carries no pull action: the registry answers 401 to the manifest.
    expect(r.stderr).toMatch(/401 Unauthorized|authorization failed|insufficient_scope/i);
    expect(await imageNames()).toEqual([]);
  }, 90_000);

  test("a wrong password fails to get a token, clearly, and records no image", async () => {
    tokens.requests.length = 0;
    const r = await bunker.ctr(["images", "pull", "--plain-http", "--user", "alice:nope", ref], {
      timeoutMs: 60_000,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("401 Unauthorized");
    expect(r.stderr).toMatch(/oauth token|token/i);
    expect(tokens.requests.some((q) => q.user === "alice")).toBe(true);
    expect(await imageNames()).toEqual([]);
    const snaps = (await bunker.ctr(["snapshots", "ls"])).stdout.trim().split("\n");
    expect(snaps.slice(1)).toEqual([]);
  }, 90_000);

  test("--user alice:… pulls: token by OAuth2 POST, image, snapshots and files in bunkerd", async () => {
    tokens.requests.length = 0;
    const r = await bunker.ctr(["images", "pull", "--plain-http", "--user", `alice:${alice.secret}`, ref], {
      timeoutMs: 120_000,
    });
    const errors = r.stderr
      .split("\n")
      .filter((l) => /level=error|ctr: /.test(l) && !l.includes("context canceled"));
    expect(errors).toEqual([]);
    expect(r.code).toBe(0);
    // containerd's authorizer tries the OAuth2 POST first when it has a password.
    expect(tokens.requests[0]).toMatchObject({ method: "POST", grantType: "password", user: "alice" });
    expect(tokens.requests.some((q) => q.scopes.includes("repository:private/app:pull"))).toBe(true);

    const ls = (await bunker.ctr(["images", "ls"])).stdout;
    expect(ls).toContain(ref);
    expect(ls).toContain(image.manifest.desc.digest);
    const check = await bunker.ctr(["images", "check"]);
    // config and two layers, all present, and unpacked into the default snapshotter.
    expect(check.stdout).toMatch(/complete \(3\/3\) .* true/);
    const snaps = (await bunker.ctr(["snapshots", "ls"])).stdout.trim().split("\n").slice(1);
    expect(snaps.map((l) => l.trim().split(/\s+/).at(-1))).toEqual(["Committed", "Committed"]);

    const target = mkdtempSync("/tmp/registry-auth-mnt-");
    try {
      expect((await bunker.ctr(["images", "mount", ref, target])).code).toBe(0);
      expect(await Bun.file(join(target, "etc/motd")).text()).toBe("only for alice\n");
      expect((await Bun.file(join(target, "opt/data.bin")).arrayBuffer()).byteLength).toBe(300_000);
    } finally {
      await bunker.ctr(["images", "unmount", "--rm", target]);
      rmSync(target, { recursive: true, force: true });
    }
  }, 180_000);
});
