/** Registry hosts for a namespace (the host part of a reference), read as containerd 1.6 reads
 *  its `config_path`: `<dir>/<host>_<port>_/`, `<dir>/<host[:port]>/`, then `<dir>/_default/`,
 *  the first that exists; in it `hosts.toml`, or else docker-style certificate files
 *  (`*.crt` CAs, `*.cert` + `*.key` client pairs).
 *
 *  hosts.toml: `[host."<url>"]` tables are tried first, in file order (mirrors); the root
 *  `server` (or the namespace itself) comes last. Each takes `capabilities`, `ca`, `client`,
 *  `skip_verify`, `header` and `override_path`. Without configuration a namespace maps to one
 *  https host with every capability — `docker.io` to registry-1.docker.io, and a loopback
 *  namespace to plain http without TLS verification (containerd ≥ 1.6.9), unless the default
 *  scheme is set.
 *
 *  Two deliberate differences: a hosts.toml that fails to parse is an error naming the file
 *  (containerd logs it and falls back to certificate files), and a hosts.toml with only root
 *  keys and no `[host]` table is accepted (containerd 1.6 rejects it; fixed in 1.7). */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, posix } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";

export type HostCapability = "pull" | "resolve" | "push";
const ALL_CAPABILITIES: HostCapability[] = ["pull", "resolve", "push"];

/** One endpoint to try for a namespace. Plain data: files are named, not read, until a TLS
 *  connection needs them. */
export type RegistryHost = {
  scheme: "http" | "https";
  /** `host[:port]` of the endpoint. */
  host: string;
  /** API root, `/v2` unless `override_path` says otherwise. */
  path: string;
  capabilities: HostCapability[];
  /** Undefined: the resolver's default (verify, unless `skipVerify` was asked for). */
  skipVerify?: boolean;
  /** CA certificate files, added to the system roots. */
  ca?: string[];
  /** Client certificate/key file pairs; an empty key means the key is in the cert file. */
  client?: [cert: string, key: string][];
  /** Extra headers for this host. */
  header?: Record<string, string[]>;
};

export type HostsOptions = {
  /** One or more `config_path` roots (a `:`-separated string is split, as the CRI does). */
  hostsDir?: string | string[];
  /** Default scheme `http` (ctr's `--plain-http`): applies where no server is configured. */
  plainHttp?: boolean;
  /** TLS files for every host that names none of its own (ctr's `--tlscacert`, `--tlscert`,
   *  `--tlskey`: containerd's HostOptions.DefaultTLS). */
  defaultTls?: { ca?: string[]; client?: [cert: string, key: string][] };
};

/** `host:port` → `host_port_`, the directory name containerd also accepts for ported hosts. */
export function hostDirectory(host: string): string {
  const i = host.lastIndexOf(":");
  return i > 0 ? `${host.slice(0, i)}_${host.slice(i + 1)}_` : host;
}

/** The directories containerd looks at for `host` under `root`, in order. */
export function hostPaths(root: string, host: string): string[] {
  const paths: string[] = [];
  const ported = hostDirectory(host);
  if (ported !== host) paths.push(join(root, ported));
  paths.push(join(root, host), join(root, "_default"));
  return paths;
}

function findHostDir(roots: string[], host: string): string | undefined {
  for (const root of roots) {
    for (const p of hostPaths(root, host)) if (existsSync(p)) return p;
  }
  return undefined;
}

/** containerd's docker.IsLocalhost: `localhost` or a loopback address, with or without port. */
export function isLocalhost(host: string): boolean {
  let h = host;
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]"));
  else if (h.split(":").length === 2) h = h.slice(0, h.indexOf(":"));
  if (h === "localhost") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  return h === "::1" || /^(0{0,4}:){1,7}0{0,3}1$/.test(h) || h === "0:0:0:0:0:0:0:1";
}

type PartialHost = Omit<RegistryHost, "scheme" | "host" | "path" | "capabilities"> & {
  scheme?: "http" | "https";
  host?: string;
  path?: string;
  capabilities?: HostCapability[];
};

/** The hosts to use for `namespace`, mirrors first. */
export function configureHosts(namespace: string, options: HostsOptions = {}): RegistryHost[] {
  const roots = (
    typeof options.hostsDir === "string" ? options.hostsDir.split(":") : (options.hostsDir ?? [])
  ).filter((r) => r !== "");
  const dir = roots.length > 0 ? findHostDir(roots, namespace) : undefined;
  const hosts: PartialHost[] = dir ? loadHostDir(dir) : [{}];
  const last = hosts[hosts.length - 1];
  // No server configured: fill in the namespace itself. An empty list (hosts.toml naming no
  // endpoint at all) stays empty, as containerd keeps it.
  if (last && last.host === undefined) {
    const defaultScheme = options.plainHttp ? "http" : undefined;
    if (namespace === "docker.io") {
      last.scheme = "https";
      last.host = "registry-1.docker.io";
    } else if (isLocalhost(namespace)) {
      last.host = namespace;
      if (defaultScheme === undefined || defaultScheme === "http") {
        last.scheme = "http";
        last.skipVerify = true;
      } else {
        last.scheme = defaultScheme;
      }
    } else {
      last.host = namespace;
      last.scheme = defaultScheme ?? "https";
    }
    last.path = "/v2";
    last.capabilities = [...ALL_CAPABILITIES];
  }
  return hosts.map((h) => {
    const out: RegistryHost = {
      scheme: h.scheme ?? "https",
      host: h.host ?? namespace,
      path: h.path ?? "/v2",
      capabilities: h.capabilities ?? [...ALL_CAPABILITIES],
    };
    if (h.skipVerify !== undefined) out.skipVerify = h.skipVerify;
    const ca = h.ca ?? options.defaultTls?.ca;
    const client = h.client ?? options.defaultTls?.client;
    if (ca?.length) out.ca = ca;
    if (client?.length) out.client = client;
    if (h.header) out.header = h.header;
    return out;
  });
}

function loadHostDir(dir: string): PartialHost[] {
  const file = join(dir, "hosts.toml");
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (text.trim() === "") return loadCertFiles(dir);
  return parseHostsFile(dir, text, file);
}

/** Docker's certs.d layout: `*.crt` are CAs, `x.cert` with `x.key` a client pair. */
export function loadCertFiles(dir: string): PartialHost[] {
  const host: PartialHost = {};
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) continue;
    if (name.endsWith(".crt")) host.ca = [...(host.ca ?? []), path];
    if (name.endsWith(".cert")) {
      const key = join(dir, `${name.slice(0, -5)}.key`);
      host.client = [...(host.client ?? []), [path, existsSync(key) ? key : ""]];
    }
  }
  return [host];
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses hosts.toml text; `dir` resolves relative certificate paths. */
export function parseHostsFile(dir: string, text: string, file = join(dir, "hosts.toml")): PartialHost[] {
  let tree: Table;
  try {
    tree = Bun.TOML.parse(text) as Table;
  } catch (e) {
    throw invalidArgument(`${file}: failed to parse TOML: ${(e as Error).message}`);
  }
  const hosts: PartialHost[] = [];
  const hostTables = tree.host;
  if (hostTables !== undefined) {
    if (!isTable(hostTables))
      throw invalidArgument(`${file}: "host" must be a table of [host."<url>"] tables`);
    // TOML tables keep file order here, which is the order mirrors are tried in.
    for (const [server, config] of Object.entries(hostTables)) {
      if (!isTable(config)) throw invalidArgument(`${file}: host.${JSON.stringify(server)} must be a table`);
      hosts.push(parseHostConfig(server, dir, config, `${file}: host.${JSON.stringify(server)}`));
    }
  }
  const server = tree.server;
  if (server !== undefined && typeof server !== "string")
    throw invalidArgument(`${file}: server must be a string`);
  hosts.push(parseHostConfig(server ?? "", dir, tree, file));
  return hosts;
}

const absolute = (p: string, base: string) => (isAbsolute(p) ? p : join(base, p));

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string"))
    throw invalidArgument(`${field}: must be a list of strings`);
  return v as string[];
}

function parseHostConfig(server: string, dir: string, config: Table, where: string): PartialHost {
  const result: PartialHost = {};
  const overridePath = config.override_path;
  if (overridePath !== undefined && typeof overridePath !== "boolean") {
    throw invalidArgument(`${where}: override_path must be a boolean`);
  }
  if (server !== "") {
    const withScheme = server.startsWith("http") ? server : `https://${server}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw invalidArgument(`${where}: unable to parse server ${JSON.stringify(server)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw invalidArgument(`${where}: server ${JSON.stringify(server)} must be http or https`);
    }
    result.scheme = url.protocol === "http:" ? "http" : "https";
    result.host = url.host;
    // URL gives "/" for no path; containerd appends /v2 unless the path already ends in it.
    let path = url.pathname === "/" ? "" : posix.normalize(url.pathname).replace(/\/$/, "");
    if (!overridePath && !path.endsWith("/v2")) path = `${path}/v2`;
    result.path = path;
  }
  if (config.skip_verify !== undefined) {
    if (typeof config.skip_verify !== "boolean")
      throw invalidArgument(`${where}: skip_verify must be a boolean`);
    result.skipVerify = config.skip_verify;
  }
  if (config.capabilities !== undefined) {
    const caps = stringList(config.capabilities, `${where}: capabilities`);
    const set = new Set<HostCapability>();
    for (const c of caps) {
      const lower = c.toLowerCase();
      if (lower !== "pull" && lower !== "resolve" && lower !== "push") {
        throw invalidArgument(`${where}: unknown capability ${JSON.stringify(c)}`);
      }
      set.add(lower);
    }
    result.capabilities =
      caps.length > 0 ? ALL_CAPABILITIES.filter((c) => set.has(c)) : [...ALL_CAPABILITIES];
  }
  const ca = config.ca;
  if (ca !== undefined) {
    if (typeof ca === "string") result.ca = [absolute(ca, dir)];
    else result.ca = stringList(ca, `${where}: ca`).map((p) => absolute(p, dir));
  }
  const client = config.client;
  if (client !== undefined) {
    if (typeof client === "string") result.client = [[absolute(client, dir), ""]];
    else if (Array.isArray(client)) {
      result.client = client.map((pair, i) => {
        if (typeof pair === "string") return [absolute(pair, dir), ""];
        const p = stringList(pair, `${where}: client[${i}]`);
        if (p.length !== 2) throw invalidArgument(`${where}: client[${i}] must be a [cert, key] pair`);
        return [absolute(p[0]!, dir), absolute(p[1]!, dir)];
      });
    } else throw invalidArgument(`${where}: client must be a path, a list of paths or of [cert, key] pairs`);
  }
  const header = config.header;
  if (header !== undefined) {
    if (!isTable(header)) throw invalidArgument(`${where}: header must be a table`);
    result.header = {};
    for (const [key, value] of Object.entries(header)) {
      if (typeof value === "string") result.header[key] = [value];
      else result.header[key] = stringList(value, `${where}: header.${key}`);
    }
  }
  return result;
}
