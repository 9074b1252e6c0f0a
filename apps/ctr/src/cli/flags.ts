/** Argument definitions and parsers shared by commands, spelled as Go ctr spells them. Spread
 *  them into a command's `args`: `args: { ...formatArgs, ...quietArg("print only the image refs") }`. */
import type { ArgsDef } from "citty";
import { UsageError } from "./errors.ts";

export const formatArgs = {
  format: { type: "string", description: "output format: table or json", valueHint: "table|json" },
} as const satisfies ArgsDef;

export const quietArg = (description: string) =>
  ({ quiet: { type: "boolean", alias: "q", description } }) as const satisfies ArgsDef;

export const snapshotterArgs = {
  snapshotter: {
    type: "string",
    description: "snapshotter name. Empty value stands for the default value. [$CONTAINERD_SNAPSHOTTER]",
  },
} as const satisfies ArgsDef;

/** The snapshotter a command uses: the flag, then $CONTAINERD_SNAPSHOTTER, then overlayfs. */
export const snapshotterOf = (flag: string | undefined) =>
  flag || process.env.CONTAINERD_SNAPSHOTTER || "overlayfs";

/** ctr's registry flags (images pull/push, content fetch). */
export const registryArgs = {
  "skip-verify": { type: "boolean", alias: "k", description: "skip SSL certificate validation" },
  "plain-http": { type: "boolean", description: "allow connections using plain HTTP" },
  user: { type: "string", alias: "u", description: "user[:password] Registry user and password" },
  refresh: { type: "string", description: "refresh token for authorization server" },
  "hosts-dir": { type: "string", description: "Custom hosts configuration directory" },
  tlscacert: { type: "string", description: "path to TLS root CA" },
  tlscert: { type: "string", description: "path to TLS client certificate" },
  tlskey: { type: "string", description: "path to TLS client key" },
  "http-dump": {
    type: "boolean",
    description: "dump all HTTP request/responses when interacting with container registry",
  },
  "http-trace": { type: "boolean", description: "enable HTTP tracing for registry interactions" },
} as const satisfies ArgsDef;

/** The positional words after the named positionals (citty keeps them in `_`). */
export const rest = (args: { _: string[] }, skip: number) => args._.slice(skip);

/** Every value of a repeatable flag (`--label a=b --label c=d`), which citty keeps only the
 *  last of. */
export function repeated(rawArgs: string[], name: string, alias?: string): string[] {
  const out: string[] = [];
  const names = [`--${name}`, ...(alias ? [`-${alias}`] : [])];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    const eq = a.indexOf("=");
    if (eq > 0 && names.includes(a.slice(0, eq))) out.push(a.slice(eq + 1));
    else if (names.includes(a) && i + 1 < rawArgs.length) out.push(rawArgs[++i]!);
  }
  return out;
}

/** `key=value` words as a label map; `key=` (empty value) is kept, meaning "clear" to label
 *  commands. A word without `=` is refused, naming it. */
export function parseLabels(words: string[], what = "label"): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new UsageError(`invalid ${what} ${JSON.stringify(w)}: want key=value`);
    labels[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return labels;
}

/** A required positional: `what` is a noun ("image name" → "image name must be provided") or
 *  Go ctr's whole sentence ("please provide …", "must specify …"), used as it is. */
export function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(/^(please|must) /.test(what) ? what : `${what} must be provided`);
  return value;
}
