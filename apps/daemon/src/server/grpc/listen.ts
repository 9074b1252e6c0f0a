/** Where the gRPC server listens: a unix socket (the default, like containerd's) or TCP,
 *  with TLS whenever a certificate is configured and client certificates when a CA is. */
import { lstat, mkdir, unlink } from "node:fs/promises";
import net from "node:net";
import { dirname } from "node:path";

// sun_path is 108 bytes with the terminating NUL.
const maxUnixPathBytes = 107;

/** Makes `path` free for a new socket: creates its directory, removes a stale socket file,
 *  and refuses when a live process still answers on it or the path is not a socket. */
export async function prepareUnixSocket(path: string): Promise<void> {
  if (Buffer.byteLength(path) > maxUnixPathBytes) {
    throw new Error(`${path}: unix socket path too long (> ${maxUnixPathBytes} bytes)`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new Error(`${path} is in use by another daemon`);
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** Whether some process accepts connections on the socket at `path`. A connect that neither
 *  succeeds nor fails in time means a listener with a full backlog: still alive. */
function answers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** "host:port", "[v6]:port" or ":port" (all interfaces). */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`invalid address ${JSON.stringify(address)}: want host:port`);
  return { host: m[1] ?? m[2] ?? "", port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** server.listen as a promise that rejects on a listen error (EADDRINUSE, EACCES…). */
export function listenOn(
  server: net.Server,
  target: { path: string } | { host: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    if ("path" in target) server.listen(target.path, onListening);
    else server.listen(target.port, target.host || undefined, onListening);
  });
}
