/** TCP listeners: plain HTTP/2 without a certificate, TLS with one, and mTLS with a CA, where
 *  a client certificate from another CA (or none) is refused. Certificates made by openssl. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { CreateGrpcServer, GrpcServer } from "../api.ts";
import {
  bytesMsg,
  Echo,
  echoService,
  fakeRouter,
  quietLog,
  removeDir,
  tempDir,
  text,
} from "../test-support.ts";

export function tlsSuite(createGrpcServer: CreateGrpcServer): void {
  const hasOpenssl = Bun.which("openssl") !== null;
  let dir: string;
  const pem: Record<string, Buffer> = {};
  const servers: GrpcServer[] = [];
  let handled = 0;

  function openssl(...args: string[]) {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
  }

  /** A key and a certificate for `name`, signed by `ca`, with the given extensions. */
  function makeCert(name: string, ca: string, ext: string) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    );
  }

  beforeAll(() => {
    if (!hasOpenssl) return;
    dir = tempDir("bunkerd-tls-");
    for (const ca of ["ca", "other-ca"]) {
      openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${ca}`,
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
      );
    }
    makeCert("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    makeCert("client", "ca", "extendedKeyUsage=clientAuth\n");
    makeCert("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
    for (const f of ["ca", "server", "client", "stranger"]) {
      pem[`${f}.crt`] = readFileSync(join(dir, `${f}.crt`));
      if (f !== "ca") pem[`${f}.key`] = readFileSync(join(dir, `${f}.key`));
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close(0)));
    if (dir) removeDir(dir);
  });

  async function serveTcp(options: Parameters<GrpcServer["listenTcp"]>[1]) {
    const server = createGrpcServer({
      router: fakeRouter({
        [`/${echoService}/Unary`]: {
          kind: "unary",
          handler: async (r) => {
            handled++;
            return r as Uint8Array;
          },
        },
      }),
      maxRecvMessageSize: 1 << 20,
      maxSendMessageSize: 1 << 20,
      log: quietLog,
    });
    servers.push(server);
    return server.listenTcp("127.0.0.1:0", options);
  }

  function call(baseUrl: string, nodeOptions: Record<string, unknown> = {}) {
    const c = createClient(Echo, createGrpcTransport({ baseUrl, nodeOptions }));
    return c.unary(bytesMsg("over tcp"), { timeoutMs: 5000 }).then((r) => text(r.value));
  }

  async function failure(p: Promise<unknown>): Promise<ConnectError> {
    try {
      await p;
    } catch (e) {
      return ConnectError.from(e);
    }
    throw new Error("call succeeded");
  }

  test("plain TCP without a certificate, as containerd's tcp_address without TLS", async () => {
    const address = await serveTcp({});
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await call(`http://${address}`)).toBe("over tcp");
  });

  test.skipIf(!hasOpenssl)(
    "TLS: a client trusting our CA connects; a plain-text client does not",
    async () => {
      const address = await serveTcp({ cert: pem["server.crt"], key: pem["server.key"] });
      expect(await call(`https://${address}`, { ca: pem["ca.crt"] })).toBe("over tcp");
      await failure(call(`http://${address}`));
      const untrusting = await failure(call(`https://${address}`));
      expect(untrusting.rawMessage).toContain("unable to verify");
    },
  );

  test.skipIf(!hasOpenssl)("mTLS: only a client certificate from our CA gets through", async () => {
    const address = await serveTcp({ cert: pem["server.crt"], key: pem["server.key"], ca: pem["ca.crt"] });
    handled = 0;
    const base = `https://${address}`;
    expect(await call(base, { ca: pem["ca.crt"], cert: pem["client.crt"], key: pem["client.key"] })).toBe(
      "over tcp",
    );
    const none = await failure(call(base, { ca: pem["ca.crt"] }));
    expect(none.rawMessage).toContain("CERTIFICATE_REQUIRED");
    await failure(call(base, { ca: pem["ca.crt"], cert: pem["stranger.crt"], key: pem["stranger.key"] }));
    expect(handled).toBe(1); // neither refused client reached a handler
  });

  test("listenTcp refuses half a TLS configuration and bad addresses", async () => {
    const server = createGrpcServer({
      router: fakeRouter({}),
      maxRecvMessageSize: 1,
      maxSendMessageSize: 1,
      log: quietLog,
    });
    servers.push(server);
    await expect(server.listenTcp("127.0.0.1:0", { cert: "x" })).rejects.toThrow(
      "both a certificate and a key",
    );
    await expect(server.listenTcp("localhost")).rejects.toThrow("want host:port");
    const taken = await server.listenTcp("127.0.0.1:0");
    await expect(server.listenTcp(taken)).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
}
