/** Build entry for `bun build --compile`: the compiled binary resolves `new Worker(new URL(
 *  "./fd.worker.ts", import.meta.url))` against the bundle's root, where main.ts sits, so the
 *  sys/ fd thread is reached through this file there. From source, sys/ loads its own copy. */
import "./sys/fd.worker.ts";
