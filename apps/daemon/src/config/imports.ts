/**
 * `imports = [...]`: paths and globs, relative to the importing file's directory. Globs use Go's
 * filepath.Glob syntax (`*`, `?`, `[a-z]`), and only patterns containing `*` are globbed, as in
 * containerd. Matches come sorted; a pattern that matches nothing is not an error, a plain path
 * that does not exist is (reported by the loader when it reads the file).
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, isAbsolute, join, normalize } from "node:path";
import type { Layer } from "./decode.ts";
import { warningAt } from "./locate.ts";

export interface Import {
  file: string;
  /** The importing layer and the index of the entry in its `imports`, for error messages. */
  from: Layer;
  index: number;
}

export function resolveImports(layer: Layer, warnings: string[]): Import[] {
  const out: Import[] = [];
  layer.lists.imports.forEach((entry, index) => {
    const relative = !isAbsolute(entry);
    const path = relative ? join(dirname(layer.file), entry) : normalize(entry);
    if (!entry.includes("*")) {
      out.push({ file: path, from: layer, index });
      return;
    }
    if (relative) {
      warnings.push(
        warningAt(
          layer,
          ["imports", index],
          `containerd 1.6 matches the relative pattern ${JSON.stringify(entry)} against its working ` +
            "directory, not this file's; use an absolute pattern so both daemons read the same files",
        ),
      );
    }
    for (const file of glob(path)) out.push({ file, from: layer, index });
  });
  return out;
}

/** Go's filepath.Glob on an absolute pattern: matches sorted per directory, only existing paths. */
export function glob(pattern: string): string[] {
  let bases = ["/"];
  for (const segment of pattern.split("/").filter((s) => s !== "")) {
    if (!/[*?[]/.test(segment)) {
      bases = bases.map((b) => join(b, segment));
      continue;
    }
    const re = segmentPattern(segment);
    const next: string[] = [];
    for (const base of bases) {
      let names: string[];
      try {
        names = readdirSync(base).sort();
      } catch {
        continue;
      }
      for (const name of names) if (re.test(name)) next.push(join(base, name));
    }
    bases = next;
  }
  return bases.filter((p) => existsSync(p));
}

function segmentPattern(segment: string): RegExp {
  const literal = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  let re = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < segment.length) re += literal(segment[++i]!);
    else if (c === "[" && segment.indexOf("]", i + 2) > 0) {
      const end = segment.indexOf("]", i + 2);
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += literal(c);
  }
  return new RegExp(`^${re}$`);
}
