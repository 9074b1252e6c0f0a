/** `bunkerd`: the command line. Flags as containerd's: --config/-c, --log-level/-l,
 *  --address/-a, --root, --state; subcommands `config default`, `config dump`, and `publish`
 *  (what shims exec to send an event). Global flags may stand before or after a subcommand. */
import { defineCommand, renderUsage } from "citty";
import type { LogSettings } from "@bunkerd/plugin-api";
import {
  applyFlags,
  type Config,
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfigToml,
  dumpConfigToml,
  effectiveTtrpc,
  loadConfig,
} from "./config/index.ts";
import type { DaemonSettings } from "./daemon.ts";
import { VERSION } from "./version.ts";

const globalArgs = {
  config: {
    type: "string",
    alias: "c",
    description: `path to the configuration file (default ${DEFAULT_CONFIG_PATH})`,
  },
  "log-level": {
    type: "string",
    alias: "l",
    description: "set the logging level [trace, debug, info, warn, error, fatal, panic]",
  },
  address: { type: "string", alias: "a", description: "address for bunkerd's GRPC server" },
  root: { type: "string", description: "bunkerd root directory" },
  state: { type: "string", description: "bunkerd state directory" },
  version: { type: "boolean", alias: "v", description: "print the version" },
  help: { type: "boolean", alias: "h", description: "show help" },
} as const;

const root = defineCommand({
  meta: {
    name: "bunkerd",
    version: VERSION.version,
    description: "a containerd-compatible container runtime daemon, on Bun",
  },
  args: globalArgs,
  subCommands: {
    config: defineCommand({
      meta: { name: "config", description: "information on the bunkerd config (default, dump)" },
    }),
    publish: defineCommand({
      meta: { name: "publish", description: "publish an event read from stdin (used by shims)" },
    }),
  },
});

const valueFlags = new Map<string, string>([
  ["--config", "config"],
  ["-c", "config"],
  ["--log-level", "logLevel"],
  ["-l", "logLevel"],
  ["--address", "address"],
  ["-a", "address"],
  ["--root", "root"],
  ["--state", "state"],
  ["--topic", "topic"],
  ["--namespace", "namespace"],
]);

interface Parsed {
  flags: Record<string, string>;
  bools: Set<string>;
  positionals: string[];
}

/** Flags anywhere (`--x v`, `--x=v`, `-x v`), the rest positional: containerd's users put
 *  global flags on either side of the subcommand. */
export function parseArgv(argv: string[]): Parsed {
  const out: Parsed = { flags: {}, bools: new Set(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const name = a.startsWith("-") && eq > 0 ? a.slice(0, eq) : a;
    const key = valueFlags.get(name);
    if (key) {
      const v = eq > 0 && a.startsWith("-") ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`flag needs an argument: ${name}`);
      out.flags[key] = v;
    } else if (a === "--help" || a === "-h") out.bools.add("help");
    else if (a === "--version" || a === "-v") out.bools.add("version");
    else if (a.startsWith("-") && a !== "-") throw new UsageError(`flag provided but not defined: ${a}`);
    else out.positionals.push(a);
  }
  return out;
}

class UsageError extends Error {}

/** Maps the validated config onto what the daemon needs. */
export function settingsOf(c: Config): DaemonSettings {
  const ttrpc = effectiveTtrpc(c);
  const level = c.debug.level === "warning" ? "warn" : c.debug.level;
  return {
    root: c.root,
    state: c.state,
    grpc: {
      address: c.grpc.address,
      tcpAddress: c.grpc.tcp_address || undefined,
      tls:
        c.grpc.tcp_tls_cert && c.grpc.tcp_tls_key
          ? { cert: c.grpc.tcp_tls_cert, key: c.grpc.tcp_tls_key, ca: c.grpc.tcp_tls_ca || undefined }
          : undefined,
      uid: c.grpc.uid,
      gid: c.grpc.gid,
      maxRecvMessageSize: c.grpc.max_recv_message_size,
      maxSendMessageSize: c.grpc.max_send_message_size,
    },
    ttrpc: { address: ttrpc.address, uid: ttrpc.uid, gid: ttrpc.gid },
    debug: { address: c.debug.address || undefined, uid: c.debug.uid, gid: c.debug.gid },
    metrics: { address: c.metrics.address || undefined, grpcHistogram: c.metrics.grpc_histogram },
    oomScore: c.oom_score,
    disabledPlugins: c.disabled_plugins,
    requiredPlugins: c.required_plugins,
    pluginConfig: c.plugins as Record<string, Record<string, unknown>>,
    pluginDir: c.plugin_dir || undefined,
    log: { level: level as LogSettings["level"], format: c.debug.format },
  };
}

async function load(p: Parsed) {
  const { pluginDefaults } = await import("./plugins-defaults.ts");
  const explicit = p.flags.config !== undefined;
  const { config, warnings } = await loadConfig(p.flags.config ?? DEFAULT_CONFIG_PATH, {
    explicit,
    pluginDefaults: pluginDefaults(),
  });
  applyFlags(config, {
    address: p.flags.address,
    root: p.flags.root,
    state: p.flags.state,
    logLevel: p.flags.logLevel,
  });
  return { config, warnings };
}

async function main(argv: string[]): Promise<number> {
  const p = parseArgv(argv);
  if (p.bools.has("version")) {
    console.log(`bunkerd ${VERSION.version} ${VERSION.revision}`);
    return 0;
  }
  const [cmd, sub] = p.positionals;
  if (p.bools.has("help")) {
    console.log(await renderUsage(root));
    return 0;
  }
  switch (cmd) {
    case undefined:
      return serve(p);
    case "config": {
      if (sub === "default") {
        const { pluginDefaults } = await import("./plugins-defaults.ts");
        process.stdout.write(defaultConfigToml(pluginDefaults()));
        return 0;
      }
      if (sub === "dump") {
        const { config } = await load(p);
        process.stdout.write(dumpConfigToml(config));
        return 0;
      }
      throw new UsageError(`config: unknown subcommand ${JSON.stringify(sub ?? "")} (default, dump)`);
    }
    case "publish": {
      const { publish } = await import("./publish.ts");
      const { config } = await load({ ...p, flags: { ...p.flags, address: undefined as unknown as string } });
      await publish({
        address: p.flags.address ?? config.grpc.address,
        topic: p.flags.topic ?? "",
        namespace: p.flags.namespace ?? "",
        payload: new Uint8Array(await Bun.stdin.arrayBuffer()),
      });
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

async function serve(p: Parsed): Promise<number> {
  const { createLogger, HOST, traceBoot } = await import("@bunkerd/plugin-api");
  traceBoot(HOST, "serve");
  // Plugin workers start first, from the bundled records, and load while the config is read.
  const [{ builtins }, { prestartWorkers }] = await Promise.all([
    import("./builtins.ts"),
    import("./host/prestart.ts"),
  ]);
  const prestarted = prestartWorkers(new URL("./host/worker.ts", import.meta.url), builtins);
  const { config, warnings } = await load(p);
  traceBoot(HOST, "config loaded");
  const settings = { ...settingsOf(config), prestarted };
  const log = createLogger(settings.log);
  for (const w of warnings) log.warn(w);
  // Signals are taken from the start: a SIGTERM during boot stops the daemon cleanly as soon
  // as it is up, rather than killing it half-started. SIGPIPE must never kill it.
  process.on("SIGPIPE", () => {});
  let signalled: string | undefined;
  let onSignal: ((sig: string) => void) | undefined;
  const take = (sig: string) => {
    log.info("received signal", { signal: sig });
    if (onSignal) onSignal(sig);
    else signalled ??= sig;
  };
  process.once("SIGTERM", () => take("terminated"));
  process.once("SIGINT", () => take("interrupt"));
  const { startDaemon } = await import("./daemon.ts");
  const daemon = await startDaemon(settings);
  process.on("SIGUSR1", async () => {
    daemon.log.info("state dump (SIGUSR1)", JSON.stringify(await daemon.host.dump()));
  });
  return await new Promise<number>((resolve) => {
    onSignal = () => {
      daemon.stop().then(
        () => resolve(0),
        (e) => {
          daemon.log.error("stop failed", e);
          resolve(1);
        },
      );
    };
    if (signalled) onSignal(signalled);
  });
}

if (import.meta.main) {
  main(Bun.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      if (e instanceof ConfigError || e instanceof UsageError) {
        console.error(`bunkerd: ${e.message}`);
        process.exit(1);
      }
      const msg = e instanceof Error ? e.message : String(e);
      console.error(`bunkerd: ${msg}`);
      process.exit(1);
    },
  );
}

export { main };
