/** Helpers the bctr run/spec suites share. */
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A root filesystem directory: busybox as sh, and a passwd. */
export function makeRootfs(dir: string) {
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "etc"));
  copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
  for (const applet of ["sh", "echo", "id", "cat"]) symlinkSync("busybox", join(dir, "bin", applet));
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\n");
}
