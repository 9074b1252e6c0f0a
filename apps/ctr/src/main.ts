/** bctr: containerd's ctr command tree against bunkerd or containerd. Global flags come before
 *  the command (as in Go ctr); each command module loads only when named. */
import "./cli/tty.ts";
import { type CommandDef, renderUsage, runCommand } from "citty";
import { expand } from "./cli/command.ts";
import { DEFAULT_ADDRESS, globals, parseGlobals } from "./cli/context.ts";
import { describeError, UsageError } from "./cli/errors.ts";
import { commands } from "./commands/index.ts";

export const VERSION = "0.1.0";

const root: CommandDef = {
  meta: { name: "bctr", version: VERSION, description: "containerd's ctr for bunkerd (and containerd)" },
  args: {
    debug: { type: "boolean", description: "enable debug output in logs" },
    address: {
      type: "string",
      alias: "a",
      description: `address for the daemon's GRPC server (default: "${DEFAULT_ADDRESS}") [$CONTAINERD_ADDRESS]`,
    },
    timeout: { type: "string", description: "total timeout for bctr commands (default: 0s)" },
    "connect-timeout": { type: "string", description: "timeout for connecting to the daemon (default: 0s)" },
    namespace: {
      type: "string",
      alias: "n",
      description: 'namespace to use with commands (default: "default") [$CONTAINERD_NAMESPACE]',
    },
  },
  subCommands: expand(commands),
};

/** The command a word path names, for help. */
async function resolve(cmd: CommandDef, words: string[]): Promise<[CommandDef, CommandDef?]> {
  let parent: CommandDef | undefined;
  let cur = cmd;
  for (const w of words) {
    if (w.startsWith("-")) continue;
    const subs = typeof cur.subCommands === "function" ? await cur.subCommands() : await cur.subCommands;
    const next = subs?.[w];
    if (!next) break;
    parent = cur;
    cur = typeof next === "function" ? await next() : await next;
  }
  return [cur, parent];
}

/** Commands that parse their own flags strictly (their trailing words are a process's). */
const OWN_PARSER = new Set(["run", "containers create", "tasks exec"]);

type ArgDef = { type?: string; alias?: string | string[] };

/** Refuses a flag the command does not define, in Go ctr's words, instead of letting citty
 *  drop it: an option bctr lacks must not be silently ignored. Walks the command path, checking
 *  each level's flags; a string flag's value is skipped; "--" ends the check. */
async function checkFlags(words: string[]): Promise<void> {
  let cur: CommandDef = root;
  const path: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--") return;
    if (w.startsWith("-") && w !== "-") {
      const body = w.replace(/^--?/, "");
      const eq = body.indexOf("=");
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const defs = (typeof cur.args === "function" ? await cur.args() : await cur.args) as
        | Record<string, ArgDef>
        | undefined;
      const entries = Object.entries(defs ?? {});
      const find = (n: string) =>
        entries.find(([k, d]) => k === n || (Array.isArray(d.alias) ? d.alias.includes(n) : d.alias === n));
      let found = find(name);
      if (!found && name.startsWith("no-")) {
        const negated = find(name.slice(3));
        if (negated?.[1].type === "boolean") found = negated;
      }
      if (!found) throw new UsageError(`flag provided but not defined: -${name}`);
      if (found[1].type === "string" && eq < 0) i++;
      continue;
    }
    const subs = typeof cur.subCommands === "function" ? await cur.subCommands() : await cur.subCommands;
    const next = subs?.[w];
    if (!next) continue; // a positional: flags may still follow (citty reads them)
    cur = typeof next === "function" ? await next() : await next;
    const meta = typeof cur.meta === "function" ? await cur.meta() : await cur.meta;
    path.push(meta?.name ?? w);
    if (OWN_PARSER.has(path.join(" "))) return;
  }
}

async function usage(argv: string[], to: "out" | "err" = "out") {
  const [cmd, parent] = await resolve(root, argv);
  const text = `${await renderUsage(cmd, parent)}\n`;
  (to === "out" ? process.stdout : process.stderr).write(text);
}

async function main(argv: string[]): Promise<number> {
  let rest: string[] = argv;
  try {
    rest = parseGlobals(argv);
    if (rest.length === 0 || rest.includes("--help") || rest.includes("-h") || rest[0] === "help") {
      await usage(rest[0] === "help" ? rest.slice(1) : rest);
      return 0;
    }
    if (rest.length === 1 && (rest[0] === "--version" || rest[0] === "-v")) {
      process.stdout.write(`bctr version ${VERSION}\n`);
      return 0;
    }
    if (globals.timeoutMs > 0) {
      setTimeout(() => {
        process.stderr.write("bctr: context deadline exceeded\n");
        process.exit(1);
      }, globals.timeoutMs).unref();
    }
    await checkFlags(rest);
    await runCommand(root, { rawArgs: rest });
    return 0;
  } catch (e) {
    const name = (e as Error)?.name;
    if (name === "CLIError" || e instanceof UsageError) {
      const msg = (e as Error).message.replace(/\u001b\[\d+m/g, "");
      if (name === "CLIError") await usage(rest, "err");
      process.stderr.write(`bctr: ${msg}\n`);
      return 1;
    }
    if (globals.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.stderr.write(`bctr: ${describeError(e, globals.address)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Flush, then exit: open http2 sessions would otherwise keep the process alive.
if (process.stdout.writableNeedDrain) await new Promise((r) => process.stdout.once("drain", r));
process.exit(code);
