/** containerd's label validation, with its exact messages: clients print them, and some tests
 *  match on them. (Identifiers are validated by `validateIdentifier` from @bunkerd/plugin-api.) */
import { BunkerError, invalidArgument, Kind } from "@bunkerd/plugin-api";

const MAX_LABEL_SIZE = 4096;
// containerd 1.6 prints the first 10 bytes of the key (1.7 raised it to 64).
const LABEL_KEY_SHOWN = 10;
const utf8 = new TextEncoder();

/** labels.Validate: a label's key and value together are at most 4096 bytes. `field` names the
 *  request field in the message, e.g. "namespace.Labels". */
export function validateLabel(field: string, key: string, value: string): void {
  const k = utf8.encode(key);
  if (k.length + utf8.encode(value).length > MAX_LABEL_SIZE) {
    const shown = new TextDecoder().decode(k.subarray(0, LABEL_KEY_SHOWN));
    throw invalidArgument(
      `${field}: label key and value greater than maximum size (${MAX_LABEL_SIZE} bytes), key: ${shown}`,
    );
  }
}

export function validateLabels(field: string, labels: Record<string, string>): void {
  for (const [k, v] of Object.entries(labels)) validateLabel(field, k, v);
}

/** Go's %q for the strings that reach it here: double quotes, with `"` and `\` escaped and
 *  control characters as escapes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

// go-digest's check lives in plugin-api: one for every store that takes a digest.
export { digestProblem } from "@bunkerd/plugin-api";

/** boltutil.WriteLabels (also used for annotations): the map as stored. An empty value is not
 *  stored (that is how a label is removed); an empty key with a value is refused by bolt, which
 *  containerd reports as Unknown `failed to set label ""="v": key required`, behind `context`
 *  when it wraps it (`writing labels for image "x"`). The copy is built through a Map, so a key
 *  named "__proto__" stays an ordinary key. */
export function storedLabels(
  labels: Record<string, string> | undefined,
  context?: string,
): Record<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (v === "") continue;
    if (k === "") {
      const msg = `failed to set label ${goQuote(k)}=${goQuote(v)}: key required`;
      throw new BunkerError(Kind.Unknown, context ? `${context}: ${msg}` : msg);
    }
    out.set(k, v);
  }
  return Object.fromEntries(out);
}
