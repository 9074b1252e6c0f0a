/** A small Transfer client for the end-to-end suites, doing what containerd 1.7's Go client does:
 *  Streaming.Stream for progress, credentials and archive bytes (Data within the window the
 *  other side grants with WindowUpdate), then Transfer.Transfer with the objects as Any. */
import { expect } from "bun:test";
import { create, type DescMessage, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { Streaming, StreamInitSchema } from "@bunkerd/proto/containerd/services/streaming/v1/streaming_pb.ts";
import { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import { ImageStoreSchema } from "@bunkerd/proto/containerd/types/transfer/imagestore_pb.ts";
import {
  ImageExportStreamSchema,
  ImageImportStreamSchema,
} from "@bunkerd/proto/containerd/types/transfer/importexport_pb.ts";
import { type Progress, ProgressSchema } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import {
  AuthRequestSchema,
  AuthResponseSchema,
  AuthType,
  OCIRegistrySchema,
} from "@bunkerd/proto/containerd/types/transfer/registry_pb.ts";
import { DataSchema, WindowUpdateSchema } from "@bunkerd/proto/containerd/types/transfer/streaming_pb.ts";
import { createClient, type Transport } from "@connectrpc/connect";

export const pack = <D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any =>
  ({ typeUrl: schema.typeName, value: toBinary(schema, create(schema, init)) }) as Any;

/** A client's Streaming.Stream: StreamInit sent and acknowledged. */
export async function openStream(transport: Transport, id: string, signal?: AbortSignal) {
  const queue: Any[] = [pack(StreamInitSchema, { id })];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* input() {
    for (;;) {
      const m = queue.shift();
      if (m) {
        yield m;
        continue;
      }
      if (ended) return;
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
    }
  }
  const replies = createClient(Streaming, transport).stream(input(), { signal })[Symbol.asyncIterator]();
  const ack = await replies.next();
  expect(ack.done).toBe(false);
  expect((ack.value as Any).typeUrl).toBe("google.protobuf.Empty");
  return {
    send(m: Any) {
      queue.push(m);
      wake?.();
    },
    /** Stops sending (the server sees the end of the client's messages). */
    end() {
      ended = true;
      wake?.();
    },
    async next(): Promise<Any | undefined> {
      const n = await replies.next();
      return n.done ? undefined : (n.value as Any);
    },
  };
}

type OpenStream = Awaited<ReturnType<typeof openStream>>;

/** containerd's SendStream: Data of at most 32 KiB, never past the granted window; the end of
 *  the bytes is the end of the client's messages. */
export function sendBytes(s: OpenStream, source: Uint8Array | Iterable<Uint8Array>): Promise<void> {
  return (async () => {
    let remaining = 0;
    for (const bytes of source instanceof Uint8Array ? [source] : source) {
      let at = 0;
      while (at < bytes.length) {
        if (remaining <= 0) {
          const m = await s.next();
          if (!m) return;
          if (m.typeUrl !== WindowUpdateSchema.typeName) continue;
          remaining += fromBinary(WindowUpdateSchema, m.value).update;
          continue;
        }
        const n = Math.min(32 * 1024, remaining, bytes.length - at);
        s.send(pack(DataSchema, { data: bytes.slice(at, at + n) }));
        at += n;
        remaining -= n;
      }
    }
    s.end();
  })();
}

/** containerd's ReceiveStream: grants 64 KiB windows, collects Data until the server ends. */
export async function receiveBytes(s: OpenStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let window = 0;
  for (;;) {
    if (window < 64 * 1024) {
      s.send(pack(WindowUpdateSchema, { update: 64 * 1024 }));
      window += 64 * 1024;
    }
    const m = await s.next();
    if (!m) break;
    if (m.typeUrl !== DataSchema.typeName) continue;
    const { data } = fromBinary(DataSchema, m.value);
    parts.push(data);
    window -= data.length;
  }
  s.end();
  return Buffer.concat(parts);
}

export interface TransferRun {
  events: Progress[];
}

/** Runs one Transfer, with a progress stream unless `progress` is false (then none is named and
 *  `events` stays empty). */
export async function runTransfer(
  transport: Transport,
  source: Any,
  destination: Any,
  o: { signal?: AbortSignal; progress?: boolean } = {},
): Promise<TransferRun> {
  const events: Progress[] = [];
  const stray: string[] = [];
  const progressStream = (o.progress ?? true) ? `progress-${crypto.randomUUID()}` : "";
  const p = progressStream ? await openStream(transport, progressStream, o.signal) : undefined;
  const loop = (async () => {
    for (;;) {
      const m = await p?.next();
      if (!m) return;
      if (m.typeUrl === ProgressSchema.typeName) events.push(fromBinary(ProgressSchema, m.value));
      else stray.push(m.typeUrl);
    }
  })();
  try {
    await createClient(Transfer, transport).transfer(
      { source, destination, options: { progressStream } },
      { signal: o.signal, timeoutMs: 120_000 },
    );
  } finally {
    p?.end();
    await loop.catch(() => {});
  }
  expect(stray, "a progress stream carries only Progress").toEqual([]);
  return { events };
}

export type StoreInit = MessageInitShape<typeof ImageStoreSchema>;
export const imageStore = (init: StoreInit) => pack(ImageStoreSchema, init);
export const registry = (reference: string, o: { plainHttp?: boolean; authStream?: string } = {}) =>
  pack(OCIRegistrySchema, {
    reference,
    resolver: { defaultScheme: (o.plainHttp ?? true) ? "http" : "", authStream: o.authStream ?? "" },
  });

/** Answers every AuthRequest on a new stream with `creds`, as ctr's credential helper does;
 *  `asked` lists the hosts asked for. */
export async function credentialStream(
  transport: Transport,
  creds: { username: string; secret: string },
  signal?: AbortSignal,
) {
  const id = `creds-${crypto.randomUUID()}`;
  const s = await openStream(transport, id, signal);
  const asked: string[] = [];
  const loop = (async () => {
    for (;;) {
      const m = await s.next();
      if (!m) return;
      expect(m.typeUrl).toBe(AuthRequestSchema.typeName);
      asked.push(fromBinary(AuthRequestSchema, m.value).host);
      s.send(pack(AuthResponseSchema, { authType: AuthType.CREDENTIALS, ...creds }));
    }
  })();
  const done = () => {
    s.end();
    return loop.catch(() => {});
  };
  return { id, asked, done };
}

/** Imports `tar` through an ImageImportStream into `store`. */
export async function transferImport(
  transport: Transport,
  tar: Uint8Array | Iterable<Uint8Array>,
  store: StoreInit,
  o: { forceCompress?: boolean } = {},
): Promise<TransferRun> {
  const id = `import-${crypto.randomUUID()}`;
  const s = await openStream(transport, id);
  const sending = sendBytes(s, tar);
  try {
    return await runTransfer(
      transport,
      pack(ImageImportStreamSchema, { stream: id, forceCompress: o.forceCompress ?? false }),
      imageStore(store),
    );
  } finally {
    s.end();
    await sending.catch(() => {});
  }
}

/** Exports the image `name` through an ImageExportStream; answers the tar. */
export async function transferExport(
  transport: Transport,
  store: StoreInit,
  o: MessageInitShape<typeof ImageExportStreamSchema> = {},
): Promise<{ tar: Uint8Array; run: TransferRun }> {
  const id = `export-${crypto.randomUUID()}`;
  const s = await openStream(transport, id);
  const receiving = receiveBytes(s);
  const run = await runTransfer(
    transport,
    imageStore(store),
    pack(ImageExportStreamSchema, { ...o, stream: id }),
  );
  return { tar: await receiving, run };
}
