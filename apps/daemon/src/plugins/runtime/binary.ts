/** Running a shim binary: `start` (launch a shim, learn its ttrpc address) and `delete` (clean up
 *  after a shim that is gone). Flags, order, cwd and environment are containerd 1.6.20's, read off
 *  a spy shim it started:
 *
 *    <shim> -namespace <ns> -address <grpc socket> -publish-binary <daemon> -id <id> start
 *    <shim> -namespace <ns> -address <grpc socket> -publish-binary <daemon> -id <id> -bundle <bundle> delete
 *
 *  with the bundle as cwd, the daemon's environment plus GOMAXPROCS=2 and TTRPC_ADDRESS (and
 *  SCHED_CORE=1 with sched_core), and the runtime options (a protobuf Any) on stdin for `start`. */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { BunkerError, invalidArgument, Kind } from "@bunkerd/plugin-api";
import { DeleteResponseSchema } from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";

export interface ShimCommandConfig {
  /** A runtime name (io.containerd.runc.v2) or an absolute path to the shim binary. */
  runtime: string;
  namespace: string;
  /** The daemon's gRPC socket. */
  address: string;
  /** The daemon's ttrpc socket, where shims forward their events. */
  ttrpcAddress: string;
  /** What shims exec to publish an event (`<bin> --address … publish --topic … --namespace …`). */
  publishBinary: string;
  /** The bundle: the shim's cwd. */
  bundle: string;
  schedCore?: boolean;
}

/** containerd's binary name rule: `<prefix>.<name>.<version>` → containerd-shim-<name>-<version>. */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split(".");
  if (parts.length < 2) return "";
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

/** The shim's path: a runtime path as given, else its binary name on PATH or beside the daemon.
 *  Errors carry containerd's wording (its kind is Unknown for both). */
export function resolveShimBinary(runtime: string, publishBinary: string): string {
  if (isAbsolute(runtime)) return runtime;
  const name = shimBinaryName(runtime);
  if (name === "") {
    throw new BunkerError(
      Kind.Unknown,
      `invalid runtime name ${runtime}, correct runtime name should be either format like \`io.containerd.runc.v1\` or a full path to the binary`,
    );
  }
  const found = Bun.which(name);
  if (found) return found;
  const beside = join(dirname(publishBinary), name);
  if (existsSync(beside)) return beside;
  throw new BunkerError(
    Kind.Unknown,
    `runtime "${runtime}" binary not installed "${name}": file does not exist`,
  );
}

export interface ShimCommand {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

export function shimCommand(cfg: ShimCommandConfig, binary: string, args: string[]): ShimCommand {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.GOMAXPROCS = "2";
  env.TTRPC_ADDRESS = cfg.ttrpcAddress;
  if (cfg.schedCore) env.SCHED_CORE = "1";
  return {
    argv: [
      binary,
      "-namespace",
      cfg.namespace,
      "-address",
      cfg.address,
      "-publish-binary",
      cfg.publishBinary,
      ...args,
    ],
    cwd: cfg.bundle,
    env,
  };
}

/** What a finished command printed, and how it ended. */
interface Ran {
  code: number | null;
  stdout: Uint8Array;
  stderr: string;
}

async function runCommand(cmd: ShimCommand, stdin: Uint8Array | undefined, timeoutMs: number): Promise<Ran> {
  const p = Bun.spawn(cmd.argv, {
    cwd: cmd.cwd,
    env: cmd.env,
    stdin: stdin && stdin.length > 0 ? stdin : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  try {
    // `start` forks the long-lived shim; that child must not hold these pipes (containerd reads
    // them to EOF too), so reading to the end is safe.
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).arrayBuffer(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { code, stdout: new Uint8Array(out), stderr: err };
  } finally {
    clearTimeout(timer);
  }
}

/** The ttrpc socket path from what `start` printed: `unix:///run/…/s/<hash>`, a bare path, or
 *  containerd 1.7's bootstrap JSON ({"version":2,"address":…,"protocol":"ttrpc"}). */
export function parseShimAddress(out: string): string {
  let address = out.trim();
  if (address.startsWith("{")) {
    try {
      const params = JSON.parse(address) as { address?: string; protocol?: string };
      if (params.protocol && params.protocol !== "ttrpc") {
        throw invalidArgument(`unsupported shim protocol ${params.protocol}`);
      }
      address = params.address ?? "";
    } catch (e) {
      if (e instanceof BunkerError) throw e;
      throw invalidArgument(`bad shim bootstrap parameters ${JSON.stringify(address)}`);
    }
  }
  address = address.replace(/^ttrpc\+/, "").replace(/^unix:\/\//, "");
  if (address === "") throw invalidArgument("shim start printed no address");
  return address;
}

/** `<binary> … -id <id> start`: returns the shim's ttrpc socket path. */
export async function startShimBinary(
  cfg: ShimCommandConfig,
  binary: string,
  id: string,
  opts: { options?: Uint8Array; debug?: boolean; timeoutMs?: number } = {},
): Promise<string> {
  const args = ["-id", id, ...(opts.debug ? ["-debug"] : []), "start"];
  const ran = await runCommand(shimCommand(cfg, binary, args), opts.options, opts.timeoutMs ?? 60_000);
  const out = new TextDecoder().decode(ran.stdout);
  if (ran.code !== 0) {
    // containerd wraps the combined output with the exit status.
    throw new BunkerError(Kind.Unknown, `${out}${ran.stderr}: exit status ${ran.code ?? "killed"}`.trim());
  }
  return parseShimAddress(out);
}

export interface Exit {
  pid: number;
  status: number;
  exitedAt: Date;
}

/** `<shim> … -id <id> -bundle <bundle> delete`: the shim's cleanup when it can no longer be
 *  reached; prints a DeleteResponse (protobuf) with the init process's exit. */
export async function deleteShimBinary(
  cfg: ShimCommandConfig,
  id: string,
  opts: { timeoutMs?: number } = {},
): Promise<{ exit: Exit; warnings: string }> {
  const binary = resolveShimBinary(cfg.runtime, cfg.publishBinary);
  const args = ["-id", id, "-bundle", cfg.bundle, "delete"];
  const cwd = existsSync(cfg.bundle) ? cfg.bundle : "/";
  const ran = await runCommand(
    { ...shimCommand(cfg, binary, args), cwd },
    undefined,
    opts.timeoutMs ?? 5_000,
  );
  if (ran.code !== 0) {
    throw new BunkerError(Kind.Unknown, `${ran.stderr}: exit status ${ran.code ?? "killed"}`.trim());
  }
  const res = fromBinary(DeleteResponseSchema, ran.stdout);
  return {
    exit: { pid: res.pid, status: res.exitStatus, exitedAt: dateOf(res.exitedAt) },
    warnings: ran.stderr,
  };
}

export const dateOf = (t: Timestamp | undefined): Date => (t ? timestampDate(t) : new Date(0));
