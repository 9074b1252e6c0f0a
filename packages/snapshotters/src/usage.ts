/** Disk use of a tree, as continuity's fs.DiskUsage: blocks allocated (`st_blocks * 512`, so
 *  sparse files count what they hold) over distinct inodes, the root included; a hard link is
 *  counted once. Synchronous: commit measures inside its write transaction, as containerd does. */
import { lstatSync, readdirSync } from "node:fs";
import type { Usage } from "./snapshotter.ts";

const SLASH = Buffer.from("/");

export function diskUsage(root: string): Usage {
  const seen = new Set<string>();
  let size = 0;
  // Paths as bytes: layer file names need not be UTF-8.
  const stack: Buffer[] = [Buffer.from(root)];
  for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
    const st = lstatSync(p, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p, { encoding: "buffer" })) stack.push(Buffer.concat([p, SLASH, name]));
    }
  }
  return { size, inodes: seen.size };
}
