/** containerd 1.7's Transfer service from the client side (bunkerd has it; containerd 1.6 does
 *  not): a Streaming.Stream carries Progress messages back, another answers the daemon's
 *  credential requests, import/export archives travel on a third under containerd's window
 *  flow control; Transfer moves the source (registry, image store, archive) to the destination. */
import { create, type DescMessage, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { Streaming, StreamInitSchema } from "@bunkerd/proto/containerd/services/streaming/v1/streaming_pb.ts";
import { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import { ImageStoreSchema } from "@bunkerd/proto/containerd/types/transfer/imagestore_pb.ts";
import {
  ImageExportStreamSchema,
  ImageImportStreamSchema,
} from "@bunkerd/proto/containerd/types/transfer/importexport_pb.ts";
import { DataSchema, WindowUpdateSchema } from "@bunkerd/proto/containerd/types/transfer/streaming_pb.ts";
import { type Progress, ProgressSchema } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import {
  AuthRequestSchema,
  AuthResponseSchema,
  AuthType,
  OCIRegistrySchema,
} from "@bunkerd/proto/containerd/types/transfer/registry_pb.ts";
import type { Credentials, Platform } from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";

export const pack = <D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any =>
  ({ typeUrl: schema.typeName, value: toBinary(schema, create(schema, init)) }) as Any;

/** A client end of Streaming.Stream: StreamInit sent and acknowledged first. */
export async function openStream(d: Daemon, id: string, signal?: AbortSignal) {
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
    }
  }
  const replies = d.client(Streaming).stream(input(), { signal })[Symbol.asyncIterator]();
  const ack = await replies.next();
  if (ack.done) throw new Error(`stream ${id}: closed before it was acknowledged`);
  return {
    send(m: Any) {
      queue.push(m);
      wake?.();
    },
    /** Ends our side (the daemon's recv sees the end); replies may still come. */
    close() {
      ended = true;
      wake?.();
    },
    async *messages(): AsyncGenerator<Any> {
      try {
        for (;;) {
          const n = await replies.next();
          if (n.done) return;
          yield n.value as Any;
        }
      } finally {
        ended = true;
        wake?.();
      }
    },
  };
}

export interface TransferPullOptions {
  name: string;
  platforms: Platform[];
  /** Unpack into this snapshotter for each platform (none: fetch only). */
  unpack?: string;
  labels?: Record<string, string>;
  plainHttp?: boolean;
  hostsDir?: string;
  credentials?: Credentials;
  allMetadata?: boolean;
  /** Every platform's content (ImageStore platforms empty); `platforms` are then what to unpack. */
  allPlatforms?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export type Stream = Awaited<ReturnType<typeof openStream>>;

interface RunOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** Opens a progress stream, runs Transfer(source → destination), and waits for every stream's
 *  loop (the daemon closes its streams when the transfer ends). `loops` are the caller's own
 *  stream loops (credentials, bytes). A daemon without Transfer/Streaming (containerd 1.6)
 *  fails the first call with Unimplemented. */
export async function runTransfer(
  d: Daemon,
  source: Any,
  destination: Any,
  o: RunOptions & { streams: AbortController },
  loops: Promise<void>[] = [],
): Promise<void> {
  const progressStream = `bctr-progress-${crypto.randomUUID()}`;
  const progress = await openStream(d, progressStream, o.streams.signal);
  const all = [
    ...loops,
    (async () => {
      for await (const m of progress.messages()) {
        if (m.typeUrl.endsWith(ProgressSchema.typeName)) o.onProgress?.(fromBinary(ProgressSchema, m.value));
      }
    })(),
  ];
  try {
    await d
      .client(Transfer)
      .transfer({ source, destination, options: { progressStream } }, { signal: o.signal });
  } catch (e) {
    // The daemon may never have taken our streams (a refused request): end them here.
    o.streams.abort(e);
    throw e;
  } finally {
    await Promise.allSettled(all);
  }
}

/** Streams' signal: aborted with the command's, or when the transfer fails. */
function streamsFor(signal?: AbortSignal): AbortController {
  const c = new AbortController();
  signal?.addEventListener("abort", () => c.abort(signal.reason), { once: true });
  return c;
}

/** An auth stream answering every credential request with `creds`; returns its id. */
async function authStream(
  d: Daemon,
  creds: Credentials | undefined,
  loops: Promise<void>[],
  signal?: AbortSignal,
) {
  if (!creds) return "";
  const id = `bctr-creds-${crypto.randomUUID()}`;
  const s = await openStream(d, id, signal);
  loops.push(
    (async () => {
      for await (const m of s.messages()) {
        if (!m.typeUrl.endsWith(AuthRequestSchema.typeName)) continue;
        s.send(pack(AuthResponseSchema, { authType: AuthType.CREDENTIALS, ...creds }));
      }
    })(),
  );
  return id;
}

const toMessage = (p: Platform) => ({ os: p.os, architecture: p.architecture, variant: p.variant ?? "" });

export async function transferPull(d: Daemon, ref: string, o: TransferPullOptions): Promise<void> {
  const loops: Promise<void>[] = [];
  const streams = streamsFor(o.signal);
  const auth = await authStream(d, o.credentials, loops, streams.signal);
  const source = pack(OCIRegistrySchema, {
    reference: ref,
    resolver: { defaultScheme: o.plainHttp ? "http" : "", authStream: auth, hostDir: o.hostsDir ?? "" },
  });
  const destination = pack(ImageStoreSchema, {
    name: o.name,
    labels: o.labels ?? {},
    platforms: o.allPlatforms ? [] : o.platforms.map(toMessage),
    allMetadata: !!o.allMetadata,
    unpacks: o.unpack ? o.platforms.map((p) => ({ platform: toMessage(p), snapshotter: o.unpack! })) : [],
  });
  await runTransfer(d, source, destination, { ...o, streams }, loops);
}

export interface TransferPushOptions extends RunOptions {
  plainHttp?: boolean;
  hostsDir?: string;
  credentials?: Credentials;
  platforms?: Platform[];
}

/** Image store → registry (containerd 1.7's ctr push with the Transfer service). */
export async function transferPush(d: Daemon, local: string, remote: string, o: TransferPushOptions) {
  const loops: Promise<void>[] = [];
  const streams = streamsFor(o.signal);
  const auth = await authStream(d, o.credentials, loops, streams.signal);
  const source = pack(ImageStoreSchema, { name: local, platforms: (o.platforms ?? []).map(toMessage) });
  const destination = pack(OCIRegistrySchema, {
    reference: remote,
    resolver: { defaultScheme: o.plainHttp ? "http" : "", authStream: auth, hostDir: o.hostsDir ?? "" },
  });
  await runTransfer(d, source, destination, { ...o, streams }, loops);
}

/** Largest Data message and the window the reader grants (containerd's pkg/transfer/streaming). */
const MAX_DATA = 32 * 1024;
const WINDOW = 2 * MAX_DATA;

/** Sends `bytes` on a new stream as the daemon grants window, then ends our side. */
async function sendBytes(d: Daemon, bytes: AsyncIterable<Uint8Array>, signal?: AbortSignal) {
  const id = `bctr-import-${crypto.randomUUID()}`;
  const s = await openStream(d, id, signal);
  let window = 0;
  let granted: (() => void) | undefined;
  let closed = false;
  const reader = (async () => {
    for await (const m of s.messages()) {
      if (!m.typeUrl.endsWith(WindowUpdateSchema.typeName)) continue;
      window += fromBinary(WindowUpdateSchema, m.value).update;
      granted?.();
    }
    closed = true;
    granted?.();
  })();
  const writer = (async () => {
    for await (const chunk of bytes) {
      for (let o = 0; o < chunk.length; ) {
        while (window <= 0 && !closed) await new Promise<void>((r) => (granted = r));
        if (closed) return;
        const n = Math.min(window, MAX_DATA, chunk.length - o);
        s.send(pack(DataSchema, { data: chunk.subarray(o, o + n) }));
        window -= n;
        o += n;
      }
    }
    s.close();
  })();
  return { id, done: Promise.all([reader, writer]).then(() => {}) };
}

export interface TransferImportOptions extends RunOptions {
  /** Names: the index's name (--index-name), and a prefix for names in the archive. */
  indexName?: string;
  prefix: string;
  overwrite: boolean;
  digests?: boolean;
  skipNamedDigest?: boolean;
  platforms: Platform[];
  allPlatforms?: boolean;
  unpack?: string;
  forceCompress?: boolean;
}

/** Archive stream → image store (containerd 1.7's ctr import with the Transfer service). */
export async function transferImport(d: Daemon, bytes: AsyncIterable<Uint8Array>, o: TransferImportOptions) {
  const streams = streamsFor(o.signal);
  const stream = await sendBytes(d, bytes, streams.signal);
  const source = pack(ImageImportStreamSchema, { stream: stream.id, forceCompress: !!o.forceCompress });
  const extraReferences = [
    { name: o.prefix, isPrefix: true, allowOverwrite: o.overwrite },
    ...(o.digests
      ? [
          {
            name: o.prefix,
            isPrefix: true,
            allowOverwrite: o.overwrite,
            addDigest: true,
            skipNamedDigest: !!o.skipNamedDigest,
          },
        ]
      : []),
  ];
  const destination = pack(ImageStoreSchema, {
    name: o.indexName ?? "",
    extraReferences,
    platforms: o.allPlatforms ? [] : o.platforms.map(toMessage),
    allMetadata: !!o.allPlatforms,
    unpacks: o.unpack ? o.platforms.map((p) => ({ platform: toMessage(p), snapshotter: o.unpack! })) : [],
  });
  await runTransfer(d, source, destination, { ...o, streams }, [stream.done]);
}

export interface TransferExportOptions extends RunOptions {
  platforms: Platform[];
  allPlatforms?: boolean;
  skipManifestJson?: boolean;
  skipNonDistributable?: boolean;
  /** Receives the archive's bytes in order. */
  write: (chunk: Uint8Array) => void;
}

/** Image store → archive stream (containerd 1.7's ctr export with the Transfer service). */
export async function transferExport(d: Daemon, names: string[], o: TransferExportOptions) {
  const id = `bctr-export-${crypto.randomUUID()}`;
  const streams = streamsFor(o.signal);
  const s = await openStream(d, id, streams.signal);
  s.send(pack(WindowUpdateSchema, { update: WINDOW }));
  const reader = (async () => {
    for await (const m of s.messages()) {
      if (!m.typeUrl.endsWith(DataSchema.typeName)) continue;
      const { data } = fromBinary(DataSchema, m.value);
      o.write(data);
      s.send(pack(WindowUpdateSchema, { update: data.length }));
    }
  })();
  const [first, ...rest] = names;
  const source = pack(ImageStoreSchema, {
    name: first ?? "",
    extraReferences: rest.map((name) => ({ name })),
  });
  const destination = pack(ImageExportStreamSchema, {
    stream: id,
    platforms: o.platforms.map(toMessage),
    allPlatforms: !!o.allPlatforms,
    skipCompatibilityManifest: !!o.skipManifestJson,
    skipNonDistributable: !!o.skipNonDistributable,
  });
  await runTransfer(d, source, destination, { ...o, streams }, [reader]);
}
