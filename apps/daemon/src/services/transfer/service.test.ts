import { expect, test } from "bun:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CallContext, Code, Kind } from "@bunkerd/plugin-api";
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
import type { TransferOptions } from "../../plugins/transfer/types.ts";
import { packAny, unpackAny } from "../streaming/any.ts";
import { ManagedStream, StreamManager } from "../streaming/manager.ts";
import { parseDestination, parseSource, transferService } from "./service.ts";

const registry = (reference: string, resolver = {}) => packAny(OCIRegistrySchema, { reference, resolver });
const store = (init: MessageInitShape<typeof ImageStoreSchema>) => packAny(ImageStoreSchema, init);
const call = (namespace = "default") =>
  ({
    namespace,
    signal: new AbortController().signal,
    method: "",
    protocol: "grpc",
    metadata: {},
  }) as CallContext;

test("OCIRegistry and ImageStore become typed objects; the bare and the googleapis type URLs are read", () => {
  const src = registry("127.0.0.1:5000/a/b:v1", {
    hostDir: "/etc/certs.d",
    defaultScheme: "http",
    headers: { "X-A": "1" },
    authStream: "auth-1",
  });
  expect(parseSource({ ...src, typeUrl: `type.googleapis.com/${src.typeUrl}` })).toEqual({
    kind: "registry",
    reference: "127.0.0.1:5000/a/b:v1",
    hostDir: "/etc/certs.d",
    defaultScheme: "http",
    headers: { "X-A": "1" },
    authStream: "auth-1",
  });
  expect(() => parseSource(registry(""))).toThrow(expect.objectContaining({ kind: Kind.InvalidArgument }));
  expect(() => parseSource(registry("x/y:z", { defaultScheme: "ftp" }))).toThrow("default scheme");
  expect(
    parseDestination(
      store({
        name: "img",
        labels: { a: "b" },
        platforms: [{ os: "linux", architecture: "arm64", variant: "v8" }],
        allMetadata: true,
        manifestLimit: 1,
        extraReferences: [{ name: "other", addDigest: true }],
        unpacks: [{ platform: { os: "linux", architecture: "amd64" }, snapshotter: "native" }, {}],
      }),
    ),
  ).toEqual({
    kind: "image-store",
    name: "img",
    labels: { a: "b" },
    platforms: [{ os: "linux", architecture: "arm64", variant: "v8" }],
    allMetadata: true,
    manifestLimit: 1,
    extraReferences: [
      { name: "other", isPrefix: false, allowOverwrite: false, addDigest: true, skipNamedDigest: false },
    ],
    unpacks: [
      { platform: { os: "linux", architecture: "amd64" }, snapshotter: "native" },
      { platform: undefined, snapshotter: "" },
    ],
  });
  expect(() => parseDestination(store({ platforms: [{}] }))).toThrow("platforms[0]");
  expect(parseSource(packAny(ImageImportStreamSchema, { stream: "s", forceCompress: true }))).toMatchObject({
    kind: "import-stream",
    stream: "s",
    forceCompress: true,
  });
  expect(parseSource(store({ name: "img" }))).toMatchObject({ kind: "image-store", name: "img" });
  expect(parseDestination(registry("r/x:y"))).toMatchObject({ kind: "registry", reference: "r/x:y" });
  expect(
    parseDestination(
      packAny(ImageExportStreamSchema, {
        stream: "e",
        platforms: [{ os: "linux", architecture: "arm64" }],
        allPlatforms: true,
        skipNonDistributable: true,
      }),
    ),
  ).toMatchObject({
    kind: "export-stream",
    stream: "e",
    platforms: [{ os: "linux", architecture: "arm64" }],
    allPlatforms: true,
    skipCompatibilityManifest: false,
    skipNonDistributable: true,
  });
  expect(() => parseSource(packAny(ImageImportStreamSchema, {}))).toThrow("stream is required");
  expect(parseSource(packAny(ImageExportStreamSchema, { stream: "s" }))).toBeUndefined();
});

test("progress goes to the named stream, which closes when the transfer ends", async () => {
  const streams = new StreamManager();
  const progress = new ManagedStream("p");
  streams.register("default", progress);
  let seen: TransferOptions | undefined;
  const svc = transferService(
    {
      async transfer(_s, _d, o) {
        seen = o;
        o.progress?.({ event: "waiting", name: "layer-x", parents: ["img"], progress: 0, total: 5 });
        o.progress?.({
          event: "complete",
          name: "layer-x",
          progress: 5,
          total: 5,
          desc: { mediaType: "m", digest: "sha256:1", size: 5 },
        });
      },
    },
    streams,
  );
  const c = { ...call(), lease: "l1" };
  await svc.transfer(
    {
      source: registry("a/b:c"),
      destination: store({ name: "n" }),
      options: { progressStream: "p" },
    } as never,
    c,
  );
  expect(seen).toMatchObject({ ns: "default", lease: "l1" });
  expect(progress.isClosed).toBe(true);
  const out: unknown[] = [];
  for await (const m of progress.outgoing(new AbortController().signal)) {
    expect(m.typeUrl).toBe("containerd.types.transfer.Progress");
    const p = unpackAny(m, ProgressSchema, "p");
    out.push([p.event, p.name, p.parents, p.progress, p.total, p.desc?.size]);
  }
  expect(out).toEqual([
    ["waiting", "layer-x", ["img"], 0n, 5n, undefined],
    ["complete", "layer-x", [], 5n, 5n, 5n],
  ]);
});

test("an unknown progress stream is NotFound; an unsupported pair is Unimplemented, naming the types", async () => {
  const svc = transferService({ transfer: async () => {} }, new StreamManager());
  const req = {
    source: registry("a/b:c"),
    destination: store({ name: "n" }),
    options: { progressStream: "nope" },
  };
  expect(await Promise.resolve(svc.transfer(req as never, call())).catch((e) => e.kind)).toBe(Kind.NotFound);
  const err = await Promise.resolve(
    svc.transfer({ source: packAny(ImageExportStreamSchema, {}), destination: store({}) } as never, call()),
  ).catch((e) => e);
  expect(err.code).toBe(Code.Unimplemented);
  expect(err.message).toBe(
    "method Transfer not implemented for containerd.types.transfer.ImageExportStream to containerd.types.transfer.ImageStore",
  );
});

test("credentials are asked for on the auth stream, one request at a time", async () => {
  const streams = new StreamManager();
  const auth = new ManagedStream("auth");
  streams.register("default", auth);
  const answers: unknown[] = [];
  const svc = transferService(
    {
      async transfer(_s, _d, o) {
        answers.push(...(await Promise.all([o.credentials!("h1:5000"), o.credentials!("h2")])));
      },
    },
    streams,
  );
  // The client: answers each AuthRequest in turn.
  const client = (async () => {
    const out = auth.outgoing(new AbortController().signal);
    const replies = [
      { authType: AuthType.CREDENTIALS, username: "u", secret: "p" },
      { authType: AuthType.REFRESH, secret: "tok" },
    ];
    const asked: string[] = [];
    for (const reply of replies) {
      const m = (await out.next()).value!;
      asked.push(unpackAny(m, AuthRequestSchema, "r").host);
      auth.deliver(packAny(AuthResponseSchema, reply));
    }
    return asked;
  })();
  await svc.transfer(
    { source: registry("h1:5000/a/b:c", { authStream: "auth" }), destination: store({ name: "n" }) } as never,
    call(),
  );
  expect(await client).toEqual(["h1:5000", "h2"]);
  expect(answers).toEqual([
    { username: "u", secret: "p" },
    { username: "", secret: "tok" },
  ]);
});
