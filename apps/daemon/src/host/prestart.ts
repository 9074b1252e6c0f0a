/** Plugin workers started before the config is read: a worker spends most of its start-up
 *  (its JS engine, the plugin runtime, protobuf) before it needs to know anything, so the
 *  host's own start-up (config, sockets, plan) and theirs overlap. The groups come from the
 *  bundled plugin records; the host adopts the workers its plan uses and ends the others. */
import { HOST, type PluginModule, recordsOf, traceBoot, workerOf } from "@bunkerd/plugin-api";

export interface Prestarted {
  readonly worker: Worker;
  /** Set when the worker died before the host adopted it. */
  exited?: string;
}

/** One worker per group that some bundled plugin names (`modules` by their bundled name), each
 *  importing its group's modules as soon as it runs. */
export function prestartWorkers(
  entry: string | URL,
  modules: Record<string, PluginModule>,
): Map<string, Prestarted> {
  const groups = new Map<string, Set<string>>();
  for (const [spec, mod] of Object.entries(modules)) {
    for (const r of recordsOf(mod)) {
      const w = workerOf(r);
      if (w !== HOST) groups.set(w, (groups.get(w) ?? new Set()).add(spec));
    }
  }
  const out = new Map<string, Prestarted>();
  for (const [name, specs] of groups) out.set(name, startWorker(entry, name, [...specs]));
  return out;
}

export function startWorker(entry: string | URL, name: string, preload: string[] = []): Prestarted {
  traceBoot(HOST, `spawn ${name}`);
  // smol: a worker holds little data; a smaller heap keeps the per-worker cost down.
  const worker = new Worker(entry, { name, smol: true, workerData: { preload } } as WorkerOptions);
  const p: Prestarted = { worker };
  worker.addEventListener("error", (ev) => {
    p.exited ??= (ev as ErrorEvent).message ?? "error";
  });
  worker.addEventListener("close", () => {
    p.exited ??= "closed";
  });
  return p;
}
