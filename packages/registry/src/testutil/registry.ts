/** Runs the real distribution registry (`docker-registry`, Debian's package) on 127.0.0.1 at a
 *  free port with its storage in a temp dir; optional TLS (and client CAs), token auth or
 *  htpasswd. Stopped by pid; its dir removed. */

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

/** The registry tests need the binary and root (for parity with the other e2e gates). */
export const canRunRegistry = () => existsSync(REGISTRY_BIN) && process.getuid?.() === 0;

export type RegistryAuth =
  | { token: { realm: string; service: string; issuer: string; rootCertBundle: string } }
  | { htpasswd: { users: Record<string, string> } };

export type RegistryOptions = {
  tls?: { cert: string; key: string; clientCAs?: string[] };
  auth?: RegistryAuth;
};

export type TestRegistry = {
  /** `127.0.0.1:<port>`: the namespace to use in references. */
  host: string;
  port: number;
  url: string;
  dir: string;
  log(): string;
  stop(): Promise<void>;
};

export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

const yamlString = (s: string) => JSON.stringify(s);

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  // The free port is free when asked for; another process may take it before the registry
  // binds it, so try again on that one failure.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      if (attempt >= 2 || !String(e).includes("address already in use")) throw e;
    }
  }
}

async function startOnce(options: RegistryOptions): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-registry-"));
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${yamlString(join(dir, "data"))}`,
    "  delete:",
    "    enabled: true",
    "http:",
    "  secret: bunkerd-test-secret",
  ];
  const port = await freePort();
  lines.push(`  addr: 127.0.0.1:${port}`);
  if (options.tls) {
    lines.push(
      "  tls:",
      `    certificate: ${yamlString(options.tls.cert)}`,
      `    key: ${yamlString(options.tls.key)}`,
    );
    if (options.tls.clientCAs?.length) {
      lines.push("    clientcas:", ...options.tls.clientCAs.map((c) => `      - ${yamlString(c)}`));
    }
  }
  const auth = options.auth;
  if (auth && "token" in auth) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${yamlString(auth.token.realm)}`,
      `    service: ${yamlString(auth.token.service)}`,
      `    issuer: ${yamlString(auth.token.issuer)}`,
      `    rootcertbundle: ${yamlString(auth.token.rootCertBundle)}`,
    );
  } else if (auth && "htpasswd" in auth) {
    const entries = await Promise.all(
      Object.entries(auth.htpasswd.users).map(
        async ([user, password]) =>
          `${user}:${await Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 })}`,
      ),
    );
    writeFileSync(join(dir, "htpasswd"), `${entries.join("\n")}\n`);
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: bunkerd-test",
      `    path: ${yamlString(join(dir, "htpasswd"))}`,
    );
  }
  const config = join(dir, "config.yml");
  writeFileSync(config, `${lines.join("\n")}\n`);
  const logFile = join(dir, "registry.log");
  const proc = Bun.spawn([REGISTRY_BIN, "serve", config], {
    stdout: Bun.file(logFile),
    stderr: Bun.file(logFile),
  });
  const scheme = options.tls ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${port}`;
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await proc.exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) {
      const text = log();
      await stop();
      throw new Error(`docker-registry exited with ${proc.exitCode}: ${text}`);
    }
    try {
      const r = await fetch(`${url}/v2/`, {
        tls: { rejectUnauthorized: false },
        signal: AbortSignal.timeout(1000),
      } as BunFetchRequestInit);
      await r.body?.cancel();
      break;
    } catch (e) {
      // A registry that wants a client certificate refuses the handshake: it is up.
      if (options.tls?.clientCAs?.length && String(e).match(/certificate|handshake|reset|closed/i)) break;
      if (Date.now() > deadline) {
        const text = log();
        await stop();
        throw new Error(`docker-registry did not start on ${url}: ${e}\n${text}`);
      }
      await Bun.sleep(50);
    }
  }
  return { host: `127.0.0.1:${port}`, port, url, dir, log, stop };
}
