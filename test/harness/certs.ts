/** Certificates for TLS tests, made with openssl: a CA, a server certificate for 127.0.0.1,
 *  a client certificate from that CA, and one from an unrelated CA. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  rogueCert: string;
  rogueKey: string;
  read(
    name: "ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey" | "rogueCert" | "rogueKey",
  ): Buffer;
  cleanup(): void;
}

function openssl(args: string[], cwd: string) {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stderr: "pipe", stdout: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync("/tmp/certs-");
  const ca = (name: string) =>
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.crt`,
      ],
      dir,
    );
  const leaf = (name: string, signer: string, ext: string) => {
    openssl(
      [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
      ],
      dir,
    );
    Bun.write(join(dir, `${name}.ext`), ext);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        `${signer}.crt`,
        "-CAkey",
        `${signer}.key`,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.crt`,
      ],
      dir,
    );
  };
  ca("test-ca");
  ca("rogue-ca");
  leaf("server", "test-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  leaf("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  const paths = {
    ca: join(dir, "test-ca.crt"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.crt"),
    clientKey: join(dir, "client.key"),
    rogueCert: join(dir, "rogue.crt"),
    rogueKey: join(dir, "rogue.key"),
  };
  return {
    dir,
    ...paths,
    read: (name) => readFileSync(paths[name]),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
