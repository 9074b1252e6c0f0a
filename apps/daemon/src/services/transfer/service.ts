/** containerd.services.transfer.v1.Transfer (containerd 1.7's services/transfer): the source
 *  and destination arrive as Any and become typed objects here (OCIRegistry, ImageStore,
 *  ImageImportStream, ImageExportStream); an import or export stream named in them carries the
 *  archive's bytes under containerd's window flow control (streaming/bytes.ts). The progress stream named in
 *  the options receives containerd.types.transfer.Progress messages and is closed when the
 *  transfer ends, which completes the client's Stream call. A source asking for credentials
 *  through an auth stream gets them there (AuthRequest → AuthResponse); that stream is closed
 *  at the end too (containerd leaves it to the client to end). */
import type { Platform as PlatformMessage } from "@bunkerd/proto/containerd/types/platform_pb.ts";
import { ImageStoreSchema } from "@bunkerd/proto/containerd/types/transfer/imagestore_pb.ts";
import {
  ImageExportStreamSchema,
  ImageImportStreamSchema,
} from "@bunkerd/proto/containerd/types/transfer/importexport_pb.ts";
import { ProgressSchema } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import {
  AuthRequestSchema,
  AuthResponseSchema,
  AuthType,
  OCIRegistrySchema,
} from "@bunkerd/proto/containerd/types/transfer/registry_pb.ts";
import type { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import { fromStatus, Code, invalidArgument, type ServiceHandlers } from "@bunkerd/plugin-api";
import type { Credentials, CredentialsFn, Platform } from "@bunkerd/registry";
import type { ProgressEvent, ProgressFn } from "../../plugins/transfer/progress.ts";
import type { LocalTransfer } from "../../plugins/transfer/transfer.ts";
import type {
  ByteSink,
  ExportStreamTarget,
  ImageStoreTarget,
  ImportStreamSource,
  RegistrySource,
  TransferDestination,
  TransferSource,
} from "../../plugins/transfer/types.ts";
import { ByteSender, receiveBytes } from "../streaming/bytes.ts";
import {
  type AnyMessage,
  packAny,
  type Stream,
  type StreamManager,
  typeNameOf,
  unpackAny,
} from "../streaming/index.ts";

type Transferrer = Pick<LocalTransfer, "transfer">;

export function transferService(
  local: Transferrer,
  streams: StreamManager,
): ServiceHandlers<typeof Transfer> {
  return {
    async transfer(req, call) {
      const ns = call.namespace!;
      // Found first and closed whatever happens, so the client's Stream call always ends.
      const id = req.options?.progressStream ?? "";
      const progressStream = id ? streams.get(ns, id) : undefined;
      const opened: Stream[] = [];
      try {
        const source = parseSource(req.source);
        const destination = parseDestination(req.destination);
        if (!source || !destination) {
          throw fromStatus(
            Code.Unimplemented,
            `method Transfer not implemented for ${req.source?.typeUrl ?? ""} to ${req.destination?.typeUrl ?? ""}`,
          );
        }
        const registry =
          source.kind === "registry" ? source : destination.kind === "registry" ? destination : undefined;
        let credentials: CredentialsFn | undefined;
        if (registry?.authStream) {
          const authStream = streams.get(ns, registry.authStream);
          opened.push(authStream);
          credentials = askCredentials(authStream, registry);
        }
        if (source.kind === "import-stream") {
          const stream = streams.get(ns, source.stream);
          opened.push(stream);
          source.bytes = receiveBytes(stream);
        }
        if (destination.kind === "export-stream") {
          const stream = streams.get(ns, destination.stream);
          opened.push(stream);
          destination.sink = new ByteSender(stream);
        }
        await local.transfer(source, destination, {
          ns,
          lease: call.lease,
          signal: call.signal,
          progress: progressStream && progressSender(progressStream),
          credentials,
        });
        return {};
      } finally {
        // The auth and byte streams too: nothing uses them after the transfer, and closing an
        // export stream is what tells the client the archive is complete.
        progressStream?.close();
        for (const s of opened) s.close();
      }
    },
  };
}

function progressSender(stream: Stream): ProgressFn {
  return (p: ProgressEvent) =>
    stream.send(
      packAny(ProgressSchema, {
        event: p.event,
        name: p.name ?? "",
        parents: p.parents ?? [],
        progress: BigInt(p.progress ?? 0),
        total: BigInt(p.total ?? 0),
        desc: p.desc && {
          mediaType: p.desc.mediaType,
          digest: p.desc.digest,
          size: BigInt(p.desc.size),
          annotations: p.desc.annotations ?? {},
        },
      }),
    );
}

/** Credentials for a registry host, asked of the client on its auth stream, one at a time. */
function askCredentials(stream: Stream, source: RegistrySource): CredentialsFn {
  let queue: Promise<unknown> = Promise.resolve();
  return (host) => {
    const ask = queue.then(async (): Promise<Credentials | undefined> => {
      stream.send(packAny(AuthRequestSchema, { host, reference: source.reference }));
      const reply = await stream.recv();
      if (!reply) return undefined;
      const r = unpackAny(reply, AuthResponseSchema, "auth response");
      switch (r.authType) {
        case AuthType.CREDENTIALS:
          return { username: r.username, secret: r.secret };
        case AuthType.REFRESH:
          return { username: "", secret: r.secret };
        default:
          // HEADER (a whole Authorization value) is not taken by the registry client.
          return undefined;
      }
    });
    queue = ask.catch(() => {});
    return ask;
  };
}

const platformOf = (p: PlatformMessage | undefined): Platform | undefined =>
  p && (p.os || p.architecture)
    ? { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }
    : undefined;

/** The source as a typed object; undefined for a type this daemon cannot transfer from. An import
 *  stream's bytes are attached by the service. */
export function parseSource(any: AnyMessage | undefined): TransferSource | undefined {
  if (!any) throw invalidArgument("source is required");
  switch (typeNameOf(any.typeUrl)) {
    case OCIRegistrySchema.typeName:
      return parseRegistry(any, "source");
    case ImageStoreSchema.typeName:
      return parseImageStore(any, "source");
    case ImageImportStreamSchema.typeName: {
      const r = unpackAny(any, ImageImportStreamSchema, "source");
      if (r.stream === "") throw invalidArgument("source: stream is required");
      const out: ImportStreamSource = {
        kind: "import-stream",
        stream: r.stream,
        mediaType: r.mediaType,
        forceCompress: r.forceCompress,
        bytes: noBytes(),
      };
      return out;
    }
    default:
      return undefined;
  }
}

async function* noBytes(): AsyncGenerator<Uint8Array> {}

const noSink: ByteSink = {
  write: async () => {
    throw invalidArgument("export stream is not attached");
  },
};

function parseRegistry(any: AnyMessage, field: string): RegistrySource {
  const r = unpackAny(any, OCIRegistrySchema, field);
  if (r.reference === "") throw invalidArgument(`${field}: reference is required`);
  const resolver = r.resolver;
  const scheme = resolver?.defaultScheme ?? "";
  if (scheme !== "" && scheme !== "http" && scheme !== "https")
    throw invalidArgument(`${field}: default scheme ${JSON.stringify(scheme)} must be http or https`);
  return {
    kind: "registry",
    reference: r.reference,
    hostDir: resolver?.hostDir || undefined,
    defaultScheme: scheme || undefined,
    headers: { ...(resolver?.headers ?? {}) },
    authStream: resolver?.authStream || undefined,
  };
}

/** The destination as a typed object; undefined for a type this daemon cannot transfer to. An
 *  export stream's sink is attached by the service. */
export function parseDestination(any: AnyMessage | undefined): TransferDestination | undefined {
  if (!any) throw invalidArgument("destination is required");
  switch (typeNameOf(any.typeUrl)) {
    case ImageStoreSchema.typeName:
      return parseImageStore(any, "destination");
    case OCIRegistrySchema.typeName:
      return parseRegistry(any, "destination");
    case ImageExportStreamSchema.typeName: {
      const e = unpackAny(any, ImageExportStreamSchema, "destination");
      if (e.stream === "") throw invalidArgument("destination: stream is required");
      const out: ExportStreamTarget = {
        kind: "export-stream",
        stream: e.stream,
        mediaType: e.mediaType,
        platforms: e.platforms.map((p, i) => {
          const platform = platformOf(p);
          if (!platform) throw invalidArgument(`destination: platforms[${i}] needs an os or an architecture`);
          return platform;
        }),
        allPlatforms: e.allPlatforms,
        skipCompatibilityManifest: e.skipCompatibilityManifest,
        skipNonDistributable: e.skipNonDistributable,
        sink: noSink,
      };
      return out;
    }
    default:
      return undefined;
  }
}

function parseImageStore(any: AnyMessage, field: string): ImageStoreTarget {
  const s = unpackAny(any, ImageStoreSchema, field);
  const platforms = s.platforms.map((p, i) => {
    const out = platformOf(p);
    if (!out) throw invalidArgument(`${field}: platforms[${i}] needs an os or an architecture`);
    return out;
  });
  return {
    kind: "image-store",
    name: s.name,
    labels: { ...s.labels },
    platforms,
    allMetadata: s.allMetadata,
    manifestLimit: s.manifestLimit,
    extraReferences: s.extraReferences.map((r) => ({
      name: r.name,
      isPrefix: r.isPrefix,
      allowOverwrite: r.allowOverwrite,
      addDigest: r.addDigest,
      skipNamedDigest: r.skipNamedDigest,
    })),
    unpacks: s.unpacks.map((u) => ({ platform: platformOf(u.platform), snapshotter: u.snapshotter })),
  };
}
