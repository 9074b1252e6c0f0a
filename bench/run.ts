/** `bun bench/run.ts <scenario> [options]`: runs one benchmark scenario, bunkerd and
 *  containerd side by side, and prints its report (markdown) on stdout, progress on stderr.
 *  Scenarios load lazily; later issues add theirs here (run). Whatever happens,
 *  every daemon a scenario started is stopped by pid and its temp dir removed. */
import { stopAll } from "./lib/targets.ts";

type Scenario = { default: (argv: string[]) => Promise<void>; usage: string };

const scenarios: Record<string, () => Promise<Scenario>> = {
  daemon: () => import("./daemon.bench.ts"),
  content: () => import("./content.bench.ts"),
  pull: () => import("./pull.bench.ts"),
  runtime: () => import("./runtime.bench.ts"),
  cli: () => import("./cli.bench.ts"),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name ? scenarios[name] : undefined;
  if (!load) {
    console.error(
      `usage: bun bench/run.ts <${Object.keys(scenarios).join("|")}> [options] (--help for a scenario's)`,
    );
    return 2;
  }
  const scenario = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(scenario.usage);
    return 0;
  }
  await scenario.default(rest);
  return 0;
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`bench: ${sig}, stopping daemons`);
    stopAll({ abort: true }).finally(() => process.exit(130));
  });
}

let code = 1;
try {
  code = await main(Bun.argv.slice(2));
} catch (e) {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  await stopAll();
}
process.exit(code);
