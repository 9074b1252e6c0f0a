/** containerd.services.content.v1.Content: a thin adapter from the wire to NamespacedContent.
 *  Write follows containerd's services/content Write loop action for action, so the Go ctr's
 *  ingest, resume and commit flows behave the same. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type CallContext,
  Code,
  fromStatus,
  invalidArgument,
  type Publisher,
  type ServiceHandlers,
} from "@bunkerd/plugin-api";
import { ContentDeleteSchema } from "@bunkerd/proto/containerd/events/content_pb.ts";
import {
  type Content,
  type WriteContentRequest,
  WriteAction,
} from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { toBinary } from "@bufbuild/protobuf";
import type { Status } from "../../plugins/content/index.ts";
import type { ContentInfo } from "../../plugins/metadata/content-records.ts";
import type { NamespacedContent } from "./store.ts";

/** Read replies carry at most this much (containerd's 1 MiB buffer). */
const READ_CHUNK = 1 << 20;
/** List replies are sent in batches, as containerd does, to bound message size. */
const LIST_BATCH = 100;

const infoOut = (i: ContentInfo) => ({
  digest: i.digest,
  size: BigInt(i.size),
  createdAt: timestampFromDate(new Date(i.createdAt)),
  updatedAt: timestampFromDate(new Date(i.updatedAt)),
  labels: i.labels,
});

const statusOut = (s: Status) => ({
  ref: s.ref,
  offset: BigInt(s.offset),
  total: BigInt(s.total),
  expected: s.expected,
  startedAt: timestampFromDate(new Date(s.startedAt)),
  updatedAt: timestampFromDate(new Date(s.updatedAt)),
});

const ns = (call: CallContext) => call.namespace!;

export function contentService(store: NamespacedContent, events: Publisher): ServiceHandlers<typeof Content> {
  return {
    async info(req, call) {
      return { info: infoOut(await store.info(ns(call), req.digest)) };
    },
    async update(req, call) {
      if (!req.info) throw invalidArgument("info is required");
      const info = await store.update(
        ns(call),
        { digest: req.info.digest, labels: req.info.labels },
        req.updateMask?.paths ?? [],
      );
      return { info: infoOut(info) };
    },
    async *list(req, call) {
      const all = await store.list(ns(call), req.filters);
      for (let i = 0; i < all.length; i += LIST_BATCH)
        yield { info: all.slice(i, i + LIST_BATCH).map(infoOut) };
    },
    async delete(req, call) {
      await store.delete(ns(call), req.digest, call.lease);
      const ev = create(ContentDeleteSchema, { digest: req.digest });
      await events.publish(ns(call), "/content/delete", {
        typeUrl: ContentDeleteSchema.typeName,
        value: toBinary(ContentDeleteSchema, ev),
      });
      return {};
    },
    async *read(req, call) {
      if (req.offset < 0n || req.size < 0n) {
        throw fromStatus(Code.InvalidArgument, "offset and size must be greater than or equal to zero");
      }
      const offset = Number(req.offset);
      // One ownership lookup per call: ctr's reader issues a Read for every 32 KiB.
      const { chunks } = await store.read(ns(call), req.digest, offset, Number(req.size));
      let at = offset;
      for await (const chunk of chunks) {
        if (call.signal.aborted) return;
        for (let i = 0; i < chunk.length; i += READ_CHUNK) {
          const data = chunk.subarray(i, i + READ_CHUNK);
          yield { offset: BigInt(at), data };
          at += data.length;
        }
      }
    },
    async status(req, call) {
      return { status: statusOut(await store.status(ns(call), req.ref)) };
    },
    async listStatuses(req, call) {
      return { statuses: (await store.listStatuses(ns(call), req.filters)).map(statusOut) };
    },
    async abort(req, call) {
      await store.abort(ns(call), req.ref, call.lease);
      return {};
    },
    write: (reqs, call) => writeSession(store, reqs, call),
  };
}

/** One Write stream: the first message names the ref and locks the writer for the session. */
async function* writeSession(
  store: NamespacedContent,
  reqs: AsyncIterable<WriteContentRequest>,
  call: CallContext,
) {
  const it = reqs[Symbol.asyncIterator]();
  let next = await it.next();
  if (next.done) return;
  let req = next.value;
  if (req.ref === "") throw fromStatus(Code.InvalidArgument, "first message must have a reference");
  const ref = req.ref;
  let total = Number(req.total);
  let expected = req.expected;
  const w = await store.writer(ns(call), ref, {
    total: total > 0 ? total : undefined,
    expected: expected || undefined,
    lease: call.lease,
  });
  let last: Record<string, unknown> | undefined;
  try {
    for (;;) {
      const ws = w.status();
      const msg: Record<string, unknown> = { action: req.action, offset: BigInt(ws.offset) };
      if (req.expected !== "") {
        expected = req.expected;
        const have = await store.info(ns(call), req.expected).catch(() => undefined);
        if (have) {
          await w.close();
          await store.abort(ns(call), ref).catch(() => {});
          throw fromStatus(Code.AlreadyExists, `blob with expected digest ${req.expected} exists`);
        }
      }
      if (req.total > 0n) total = Number(req.total);
      switch (req.action) {
        case WriteAction.STAT:
          msg.digest = w.digest();
          msg.startedAt = timestampFromDate(new Date(ws.startedAt));
          msg.updatedAt = timestampFromDate(new Date(ws.updatedAt));
          msg.total = BigInt(total);
          break;
        case WriteAction.WRITE:
        case WriteAction.COMMIT: {
          let offset = ws.offset;
          const at = Number(req.offset);
          if (at > 0 && at !== offset) {
            throw fromStatus(Code.OutOfRange, `write @${at} must occur at current offset ${offset}`);
          }
          if (at === 0 && offset > 0) {
            await w.truncate(0);
            offset = 0;
          }
          if (req.data.length > 0) offset += await w.writeAt(offset, req.data);
          msg.offset = BigInt(offset);
          // After a commit the writer is spent: the digest comes from the commit itself.
          msg.digest =
            req.action === WriteAction.COMMIT
              ? await w.commit(total, expected, Object.keys(req.labels).length > 0 ? req.labels : undefined)
              : w.digest();
          break;
        }
        default:
          throw invalidArgument(`unknown write action ${req.action}`);
      }
      last = msg;
      yield msg;
      next = await it.next();
      if (next.done) break;
      req = next.value;
    }
    // containerd sends the last reply once more when the client closes its side.
    if (last) yield last;
  } finally {
    await w.close().catch(() => {});
  }
}
