/** The version bunkerd reports (Version service, `bunkerd --version`). The revision is the
 *  git commit the binary was built from: baked in by the setup script's compile step
 *  (BUNKERD_REVISION define), or read from the checkout when running from source. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

declare const BUNKERD_REVISION: string | undefined;

function checkoutRevision(): string {
  try {
    const git = join(import.meta.dir, "../../../.git");
    const head = readFileSync(join(git, "HEAD"), "utf8").trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    try {
      return readFileSync(join(git, ref), "utf8").trim();
    } catch {
      const packed = readFileSync(join(git, "packed-refs"), "utf8");
      return (
        packed
          .split("\n")
          .find((l) => l.endsWith(` ${ref}`))
          ?.split(" ")[0] ?? ""
      );
    }
  } catch {
    return "";
  }
}

export const VERSION = {
  version: `v${(pkg as { version?: string }).version ?? "0.0.0"}`,
  revision: typeof BUNKERD_REVISION === "string" ? BUNKERD_REVISION : checkoutRevision(),
};
