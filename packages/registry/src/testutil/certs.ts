/** Test certificates made with openssl: a CA, a server certificate for 127.0.0.1/localhost
 *  signed by it, a client certificate signed by it, and a self-signed token signer. */

import { writeFileSync } from "node:fs";
import { join } from "node:path";

export type TestCerts = {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  tokenCert: string;
  tokenKey: string;
};

/** The key a certificate gets: EC P-256, or RSA 2048 where a peer wants RSA. */
export type KeyType = "ec" | "rsa";

const keyArgs = (key: KeyType) =>
  key === "ec"
    ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    : ["-newkey", "rsa:2048", "-nodes"];

/** Runs openssl in `dir`, throwing with its stderr when it fails. */
export function openssl(dir: string, ...args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** A self-signed `<name>.crt` and its `<name>.key` in `dir`, valid for two days; `addext` are
 *  openssl `-addext` values (a CA's basicConstraints and keyUsage). */
export function selfSigned(
  dir: string,
  name: string,
  subject: string,
  o: { key?: KeyType; addext?: string[] } = {},
): void {
  const ext = (o.addext ?? []).flatMap((e) => ["-addext", e]);
  const files = ["-keyout", `${name}.key`, "-out", `${name}.crt`];
  openssl(dir, "req", "-x509", ...keyArgs(o.key ?? "ec"), ...files, "-days", "2", "-subj", subject, ...ext);
}

/** `<name>.crt` and `<name>.key` in `dir`, signed by the CA `<ca>.crt`/`<ca>.key` there, valid for
 *  two days, with `extensions` (lines of an openssl extfile). */
export function signedBy(
  dir: string,
  name: string,
  ca: string,
  subject: string,
  extensions: string,
  key: KeyType = "ec",
): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, "req", ...keyArgs(key), "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
}

/** Writes the certificates into `dir` (which must exist). */
export function makeCerts(dir: string): TestCerts {
  selfSigned(dir, "ca", "/CN=bunkerd test CA", {
    addext: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"],
  });
  signedBy(
    dir,
    "server",
    "ca",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
  );
  signedBy(
    dir,
    "client",
    "ca",
    "/CN=bunkerd test client",
    "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
  );
  // RSA for the token signer: distribution verifies RS256 through libtrust.
  selfSigned(dir, "token", "/CN=bunkerd test token signer", { key: "rsa" });
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    tokenCert: p("token.crt"),
    tokenKey: p("token.key"),
  };
}
