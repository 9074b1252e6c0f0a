/** Certificates for TLS tests, made with openssl (the registry package's test helpers): a CA, a
 *  server certificate for 127.0.0.1, a client certificate from that CA, and one from an unrelated
 *  CA. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { selfSigned, signedBy } from "../../packages/registry/src/testutil/certs.ts";

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

export function makeCerts(): TestCerts {
  const dir = mkdtempSync("/tmp/certs-");
  // RSA throughout, as these certificates have always been; a second CA signs the rogue client.
  selfSigned(dir, "test-ca", "/CN=test-ca", { key: "rsa" });
  selfSigned(dir, "rogue-ca", "/CN=rogue-ca", { key: "rsa" });
  const leaf = (name: string, ca: string, ext: string) => signedBy(dir, name, ca, `/CN=${name}`, ext, "rsa");
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
