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

function openssl(dir: string, ...args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}

const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function signed(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, "req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
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
  openssl(
    dir,
    "req",
    "-x509",
    ...key,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=bunkerd test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  signed(
    dir,
    "server",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
  );
  signed(
    dir,
    "client",
    "/CN=bunkerd test client",
    "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
  );
  // RSA for the token signer: distribution verifies RS256 through libtrust.
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "token.key",
    "-out",
    "token.crt",
    "-days",
    "2",
    "-subj",
    "/CN=bunkerd test token signer",
  );
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
