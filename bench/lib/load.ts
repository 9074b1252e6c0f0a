/** Runs a load client against a daemon's socket and reads its result, sampling the daemon's
 *  CPU time around it so a result says what each call cost the daemon even when the client,
 *  not the daemon, is the bottleneck.
 *
 *  - `node`: bench/lib/grpc-load.mjs, the reference client (checks grpc-status on every call).
 *  - `h2load`: nghttp2's C load generator, when installed (Debian nghttp2-client). It costs a
 *    fraction of the Node client's CPU per call, so on a small machine it shows the daemon's
 *    own ceiling; it checks only the HTTP status, not grpc-status. */
import { dirname, join } from "node:path";
import { cpuMsOf } from "./proc.ts";

export type LoadClient = "node" | "h2load";

export interface LoadOptions {
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** The unary method's path; default VERSION_METHOD. */
  method?: string;
  /** The serialized request message (no gRPC prefix); default empty. */
  message?: Uint8Array;
  /** Sent as `containerd-namespace` on every call. */
  namespace?: string;
}

export interface LoadResult {
  client: LoadClient;
  concurrency: number;
  /** Calls completed in the measured window. */
  calls: number;
  callsPerSec: number;
  /** Node client only: per-call latency percentiles (nearest rank). */
  p50Ms?: number;
  p99Ms?: number;
  /** h2load only: it reports mean and max, no percentiles. */
  meanMs?: number;
  maxMs: number;
  errors: number;
  lastError?: string;
  /** Calls including the warm-up (estimated from the rate for h2load). */
  totalCalls: number;
  /** Node client only: bytes of the first reply's DATA (gRPC prefixes included). */
  replyBytes?: number;
  /** The client's own CPU use, % of one core (Node: measured window; h2load: whole run). */
  clientCpuPct: number;
  /** Daemon CPU time (all threads) over the client's whole run, divided by totalCalls, µs. */
  daemonCpuUsPerCall: number;
}

const nodeClient = join(import.meta.dir, "grpc-load.mjs");
export const VERSION_METHOD = "/containerd.services.version.v1.Version/Version";
export const hasH2load = () => Bun.which("h2load") !== null;

async function spawnClient(argv: string[], o: LoadOptions) {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), (o.durationS + o.warmupS + 30) * 1000);
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(`${argv[0]} exited ${code}: ${(err || out).trim().split("\n").slice(-5).join("\n")}`);
  const usage = p.resourceUsage();
  const cpuMs = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1000 : Number.NaN;
  return { out, cpuMs };
}

function parseH2load(out: string, o: LoadOptions): Omit<LoadResult, "daemonCpuUsPerCall" | "clientCpuPct"> {
  const num = (re: RegExp, what: string) => {
    const m = out.match(re);
    if (!m) throw new Error(`h2load: no ${what} in its output:\n${out}`);
    return m.slice(1).map(Number);
  };
  const [done = 0, succeeded = 0] = num(
    /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/,
    "request counts",
  );
  const [, , max = 0, maxUnit, mean = 0, meanUnit] =
    out.match(/time for request:\s+([\d.]+\w+)\s+([\d.]+)(\w+)\s+([\d.]+)(\w+)/) ?? [];
  const toMs = (v: number, unit?: string) => (unit === "us" ? v / 1000 : unit === "s" ? v * 1000 : v);
  const callsPerSec = succeeded / o.durationS;
  return {
    client: "h2load",
    concurrency: o.concurrency,
    calls: succeeded,
    callsPerSec,
    meanMs: toMs(Number(mean), meanUnit),
    maxMs: toMs(Number(max), maxUnit),
    errors: done - succeeded,
    totalCalls: Math.round(callsPerSec * (o.durationS + o.warmupS)),
  };
}

export async function runLoad(
  client: LoadClient,
  socket: string,
  daemonPid: number,
  o: LoadOptions,
): Promise<LoadResult> {
  const method = o.method ?? VERSION_METHOD;
  const message = o.message ?? new Uint8Array(0);
  const cpu0 = cpuMsOf(daemonPid);
  let r: Omit<LoadResult, "daemonCpuUsPerCall">;
  if (client === "node") {
    const argv = ["node", nodeClient, "--socket", socket, "--concurrency", String(o.concurrency)];
    argv.push("--duration", String(o.durationS), "--warmup", String(o.warmupS), "--path", method);
    if (message.length) argv.push("--message-hex", Buffer.from(message).toString("hex"));
    if (o.namespace) argv.push("--namespace", o.namespace);
    const { out } = await spawnClient(argv, o);
    r = { client, ...JSON.parse(out) };
  } else {
    // One connection (-c 1) with up to N streams in flight (-m N); body: 5-byte prefix + message.
    const body = join(dirname(socket), "grpc-message.bin"); // in the daemon's temp dir
    const framed = new Uint8Array(5 + message.length);
    new DataView(framed.buffer).setUint32(1, message.length);
    framed.set(message, 5);
    await Bun.write(body, framed);
    const argv = ["h2load", "-B", `unix:${socket}`, "-c", "1", "-m", String(o.concurrency)];
    argv.push(
      "-D",
      `${Math.round(o.durationS * 1000)}ms`,
      "--warm-up-time",
      `${Math.round(o.warmupS * 1000)}ms`,
    );
    argv.push("-H", "content-type: application/grpc", "-H", "te: trailers");
    if (o.namespace) argv.push("-H", `containerd-namespace: ${o.namespace}`);
    argv.push("-d", body, `http://localhost${method}`);
    const { out, cpuMs } = await spawnClient(argv, o);
    r = { ...parseH2load(out, o), clientCpuPct: (cpuMs / ((o.durationS + o.warmupS) * 1000)) * 100 };
  }
  const cpu1 = cpuMsOf(daemonPid);
  return { ...r, daemonCpuUsPerCall: ((cpu1 - cpu0) * 1000) / r.totalCalls };
}
