/** The MessagePort contract: typed calls between the host and workers, and between workers.
 *
 *  One `PortPeer` sits at each end of a port and is both caller and callee. A call names a
 *  target ("/pkg.Service/Method" for API calls, "plugin:<uri>#method" for plugin proxies,
 *  "$…" for host control) and carries arguments by structured clone; Uint8Arrays that own
 *  their whole buffer are transferred, not copied. Either side of a call may be a stream:
 *  the caller passes `input` (client stream) and/or asks for `stream: true` (server stream).
 *  Streams are flow-controlled by credits (the receiver grants `WINDOW` items at a time), so
 *  a fast producer cannot flood a slow consumer's queue. Cancellation goes both ways: the
 *  caller's AbortSignal sends `cancel`; the callee's failure arrives as `err`. When the port
 *  dies (`fail`), every pending call fails with Unavailable at once. */
import { type BunkerError, unavailable } from "../errors/kinds.ts";
import type { WireCallContext } from "../rpc/route.ts";
import { decodeError, encodeError, type WireError } from "./error-codec.ts";

const WINDOW = 32;

type Msg =
  | { t: "call"; id: number; target: string; args: unknown[]; ctx?: WireCallContext; input: boolean }
  | { t: "in"; id: number; v: unknown }
  | { t: "in-end"; id: number }
  | { t: "stream"; id: number }
  // `end`: the stream's last item, and the stream ended without error (no `ok` follows).
  | { t: "out"; id: number; v: unknown; end?: true }
  | { t: "ok"; id: number; v: unknown }
  | { t: "err"; id: number; e: WireError }
  | { t: "cancel"; id: number }
  // Ids are the caller's: `grant-out` goes caller → callee (room for more `out` items),
  // `grant-in` goes callee → caller (room for more `in` items).
  | { t: "grant-out"; id: number; n: number }
  | { t: "grant-in"; id: number; n: number };

/** What a callee sees of one call. */
export interface IncomingCall {
  readonly target: string;
  readonly args: unknown[];
  readonly ctx?: WireCallContext;
  /** The caller's stream, when it sent one. */
  readonly input?: AsyncIterable<unknown>;
  readonly signal: AbortSignal;
}
export type CallHandler = (call: IncomingCall) => Promise<unknown> | AsyncIterable<unknown>;

export interface CallOptions {
  ctx?: WireCallContext;
  signal?: AbortSignal;
  input?: AsyncIterable<unknown>;
}

/** Minimal surface of MessagePort / Worker / parentPort. */
export interface PortLike {
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  addEventListener(type: "message", fn: (ev: MessageEvent) => void): void;
}

/** Transfer a byte array's buffer only when the array owns all of it: a view into a
 *  shared pool (node Buffers) must be copied, or the pool would be detached. Empty arrays
 *  are never transferred: they are often one shared constant, and copying them is free. */
export function transferables(v: unknown, out: Transferable[] = []): Transferable[] {
  if (v instanceof MessagePort) {
    out.push(v);
  } else if (v instanceof Uint8Array) {
    if (
      v.byteLength > 0 &&
      v.byteOffset === 0 &&
      v.byteLength === v.buffer.byteLength &&
      v.buffer instanceof ArrayBuffer
    ) {
      if (!out.includes(v.buffer)) out.push(v.buffer);
    }
  } else if (Array.isArray(v)) {
    for (const x of v) transferables(x, out);
  }
  return out;
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  v != null &&
  typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function" &&
  !(v instanceof Promise);

/** How long a reply stream's item may wait to learn whether it is the last (pumpOut). */
const LAST_ITEM_WAIT_MS = 2;

/** `p`'s result if it settles within `ms`; undefined if it fails or takes longer. */
function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

/** A queue that an async iterator drains; items pushed by port messages. */
class Inbox {
  private items: unknown[] = [];
  private done = false;
  private error: BunkerError | undefined;
  private wake: (() => void) | undefined;
  private consumed = 0;
  constructor(private readonly grant: (n: number) => void) {}
  push(v: unknown) {
    this.items.push(v);
    this.wake?.();
  }
  end(err?: BunkerError) {
    this.done = true;
    this.error = err;
    this.wake?.();
  }
  async *iterate(onReturn: () => void): AsyncGenerator<unknown> {
    let finished = false;
    try {
      for (;;) {
        if (this.items.length > 0) {
          const v = this.items.shift();
          if (++this.consumed >= WINDOW / 2) {
            this.grant(this.consumed);
            this.consumed = 0;
          }
          yield v;
          continue;
        }
        if (this.done) {
          finished = true;
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = undefined;
      }
    } finally {
      if (!finished) onReturn();
    }
  }
}

/** Sender side of a flow-controlled stream. */
class Outbox {
  credit = WINDOW;
  private waiter: (() => void) | undefined;
  closed = false;
  add(n: number) {
    this.credit += n;
    this.waiter?.();
  }
  close() {
    this.closed = true;
    this.waiter?.();
  }
  async take(): Promise<boolean> {
    while (this.credit <= 0 && !this.closed) {
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
    if (this.closed) return false;
    this.credit--;
    return true;
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: BunkerError): void;
  /** For server-streamed replies. */
  inbox?: Inbox;
  /** For the caller's input stream. */
  outbox?: Outbox;
}

interface Serving {
  abort: AbortController;
  inbox?: Inbox;
  outbox?: Outbox;
}

export class PortPeer {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly serving = new Map<number, Serving>();
  private failed: BunkerError | undefined;
  private handler: CallHandler | undefined;

  constructor(
    private readonly port: PortLike,
    readonly name: string,
  ) {
    port.addEventListener("message", (ev) => this.receive(ev.data as Msg));
  }

  /** Serve calls that arrive on this port. */
  serve(handler: CallHandler): this {
    this.handler = handler;
    return this;
  }

  /** A unary call: one reply. */
  call(target: string, args: unknown[] = [], opts: CallOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.start(target, args, opts, { resolve, reject });
      if (id < 0) return;
    });
  }

  /** A call whose reply is a stream. */
  stream(target: string, args: unknown[] = [], opts: CallOptions = {}): AsyncIterable<unknown> {
    let id = -1;
    const inbox = new Inbox((n) => this.post({ t: "grant-out", id, n }));
    const pending: Pending = {
      inbox,
      resolve: () => inbox.end(),
      reject: (e) => inbox.end(e),
    };
    id = this.start(target, args, opts, pending);
    return inbox.iterate(() => {
      if (this.pending.delete(id)) this.post({ t: "cancel", id });
    });
  }

  /** The port is gone (worker crashed or exited): fail everything at once. */
  fail(reason: string) {
    this.failed = unavailable(reason);
    for (const p of this.pending.values()) p.reject(this.failed);
    this.pending.clear();
    for (const s of this.serving.values()) {
      s.abort.abort(this.failed);
      s.outbox?.close();
      s.inbox?.end(this.failed);
    }
    this.serving.clear();
  }

  get inFlight(): number {
    return this.pending.size + this.serving.size;
  }

  private start(target: string, args: unknown[], opts: CallOptions, p: Pending): number {
    if (this.failed) {
      p.reject(this.failed);
      return -1;
    }
    const id = this.nextId++;
    if (opts.signal?.aborted) {
      p.reject(decodeError(encodeError(opts.signal.reason ?? new DOMException("aborted", "AbortError"))));
      return -1;
    }
    this.pending.set(id, p);
    this.post({ t: "call", id, target, args, ctx: opts.ctx, input: !!opts.input }, transferables(args));
    opts.signal?.addEventListener(
      "abort",
      () => {
        const live = this.pending.get(id);
        if (!live) return;
        this.pending.delete(id);
        live.outbox?.close();
        this.post({ t: "cancel", id });
        live.reject(decodeError(encodeError(opts.signal?.reason)));
      },
      { once: true },
    );
    if (opts.input) {
      p.outbox = new Outbox();
      void this.pump(id, opts.input, p.outbox, "in");
    }
    return id;
  }

  /** Send a stream's items under flow control. */
  private async pump(
    id: number,
    src: AsyncIterable<unknown>,
    box: Outbox,
    kind: "in" | "out",
  ): Promise<void> {
    const it = src[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (!(await box.take())) {
          await it.return?.();
          return;
        }
        const r = await it.next();
        if (box.closed) {
          await it.return?.();
          return;
        }
        if (r.done) break;
        this.post({ t: kind, id, v: r.value }, transferables(r.value));
      }
      if (kind === "in") this.post({ t: "in-end", id });
    } catch (e) {
      // The caller's input failed: cancel the call; an output failure is reported by serveCall.
      if (kind === "in") {
        this.post({ t: "cancel", id });
        const p = this.pending.get(id);
        this.pending.delete(id);
        p?.reject(decodeError(encodeError(e)));
      } else throw e;
    }
  }

  /** A reply stream's items under flow control. Each item waits until the next one is known,
   *  at most LAST_ITEM_WAIT_MS: when the stream ends right after it (a blob read ends once its
   *  file is closed, a thread-pool round trip later), the item and the end travel in one
   *  message, so the gRPC server writes the last DATA and the trailers together. A Go client
   *  that has its bytes otherwise resets the stream before the trailers arrive (ctr's content
   *  reads did, on most Reads), which costs both sides a cancellation. The producer keeps
   *  working meanwhile, so a busy stream loses no throughput. Returns true when the end went
   *  with the last item. */
  private async pumpOut(id: number, src: AsyncIterable<unknown>, box: Outbox): Promise<boolean> {
    const it = src[Symbol.asyncIterator]();
    let ahead: Promise<IteratorResult<unknown>> | undefined;
    for (;;) {
      if (!(await box.take())) {
        ahead?.catch(() => {});
        await it.return?.();
        return false;
      }
      const r = await (ahead ?? it.next());
      ahead = undefined;
      if (box.closed) {
        await it.return?.();
        return false;
      }
      if (r.done) return false;
      const next = it.next();
      const soon = await settledWithin(next, LAST_ITEM_WAIT_MS);
      if (box.closed) {
        next.catch(() => {});
        await it.return?.();
        return false;
      }
      if (soon?.done) {
        this.post({ t: "out", id, v: r.value, end: true }, transferables(r.value));
        return true;
      }
      this.post({ t: "out", id, v: r.value }, transferables(r.value));
      ahead = next;
    }
  }

  private post(m: Msg, transfer?: Transferable[]) {
    if (this.failed) return;
    try {
      if (transfer && transfer.length > 0) this.port.postMessage(m, transfer);
      else this.port.postMessage(m);
    } catch (e) {
      // A value that cannot be cloned is a bug in the caller; report it on that call.
      if (m.t === "call" || m.t === "in") {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(decodeError(encodeError(e)));
      } else if (m.t === "ok" || m.t === "out") {
        this.port.postMessage({ t: "err", id: m.id, e: encodeError(e) } satisfies Msg);
      } else throw e;
    }
  }

  private receive(m: Msg) {
    switch (m.t) {
      case "call":
        this.serveCall(m);
        return;
      case "in":
        this.serving.get(m.id)?.inbox?.push(m.v);
        return;
      case "in-end":
        this.serving.get(m.id)?.inbox?.end();
        return;
      case "cancel": {
        const s = this.serving.get(m.id);
        if (!s) return;
        this.serving.delete(m.id);
        s.abort.abort(new DOMException("canceled by caller", "AbortError"));
        s.outbox?.close();
        s.inbox?.end(decodeError(encodeError(new DOMException("canceled by caller", "AbortError"))));
        return;
      }
      case "grant-out":
        this.serving.get(m.id)?.outbox?.add(m.n);
        return;
      case "grant-in":
        this.pending.get(m.id)?.outbox?.add(m.n);
        return;
      case "stream": {
        // The callee answered a plain call with a stream (plugin proxies cannot know in
        // advance): hand the caller an iterable fed by this call's messages.
        const p = this.pending.get(m.id);
        if (!p || p.inbox) return;
        const inbox = new Inbox((n) => this.post({ t: "grant-out", id: m.id, n }));
        const resolve = p.resolve;
        p.inbox = inbox;
        p.resolve = () => inbox.end();
        p.reject = (e) => inbox.end(e);
        resolve(
          inbox.iterate(() => {
            if (this.pending.delete(m.id)) this.post({ t: "cancel", id: m.id });
          }),
        );
        return;
      }
      case "out": {
        const p = this.pending.get(m.id);
        p?.inbox?.push(m.v);
        if (m.end && p) {
          this.pending.delete(m.id);
          p.outbox?.close();
          p.resolve(undefined);
        }
        return;
      }
      case "ok": {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.outbox?.close();
        p.resolve(m.v);
        return;
      }
      case "err": {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.outbox?.close();
        p.reject(decodeError(m.e));
        return;
      }
    }
  }

  private serveCall(m: Extract<Msg, { t: "call" }>) {
    const abort = new AbortController();
    const s: Serving = { abort };
    this.serving.set(m.id, s);
    if (m.input) {
      s.inbox = new Inbox((n) => this.post({ t: "grant-in", id: m.id, n }));
    }
    const finish = (msg: Msg, transfer?: Transferable[]) => {
      if (this.serving.get(m.id) !== s) return; // canceled meanwhile
      this.serving.delete(m.id);
      this.post(msg, transfer);
    };
    const fail = (e: unknown) => finish({ t: "err", id: m.id, e: encodeError(e) });
    if (!this.handler) {
      fail(unavailable(`${this.name}: no handler for calls`));
      return;
    }
    let result: Promise<unknown> | AsyncIterable<unknown>;
    try {
      result = this.handler({
        target: m.target,
        args: m.args,
        ctx: m.ctx,
        // A handler that stops reading its input early simply finishes; its reply ends the call.
        input: s.inbox?.iterate(() => {}),
        signal: abort.signal,
      });
    } catch (e) {
      fail(e);
      return;
    }
    if (isAsyncIterable(result)) {
      s.outbox = new Outbox();
      this.post({ t: "stream", id: m.id });
      this.pumpOut(m.id, result, s.outbox).then((endedWithLast) => {
        if (!endedWithLast) finish({ t: "ok", id: m.id, v: undefined });
        else if (this.serving.get(m.id) === s) this.serving.delete(m.id);
      }, fail);
    } else {
      Promise.resolve(result).then((v) => finish({ t: "ok", id: m.id, v }, transferables(v)), fail);
    }
  }
}
