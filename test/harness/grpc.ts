/** A raw gRPC call over node:http2 for tests that check the wire itself (status codes,
 *  trailers, headers) without a client library's interpretation in between. */
import http2 from "node:http2";
import { connect } from "node:net";

export interface RawResult {
  httpStatus: number;
  grpcStatus?: string;
  grpcMessage?: string;
  messages: Uint8Array[];
}

export function grpcCall(
  socketPath: string,
  path: string,
  message: Uint8Array,
  headers: Record<string, string> = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect("http://localhost", { createConnection: () => connect(socketPath) });
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const frame = new Uint8Array(5 + message.length);
    new DataView(frame.buffer).setUint32(1, message.length);
    frame.set(message, 5);
    req.end(frame);
    const res: RawResult = { httpStatus: 0, messages: [] };
    const chunks: Buffer[] = [];
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) res.grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) res.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", (h) => {
      res.httpStatus = Number(h[":status"]);
      take(h);
    });
    req.on("trailers", take);
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("end", () => {
      const all = Buffer.concat(chunks);
      for (let i = 0; i + 5 <= all.length; ) {
        const n = all.readUInt32BE(i + 1);
        res.messages.push(new Uint8Array(all.subarray(i + 5, i + 5 + n)));
        i += 5 + n;
      }
      session.close();
      resolve(res);
    });
  });
}

/** Readiness without ctr: a Version call answered with grpc-status 0. */
export async function versionOk(socketPath: string): Promise<boolean> {
  try {
    const r = await grpcCall(socketPath, "/containerd.services.version.v1.Version/Version", new Uint8Array());
    return r.grpcStatus === "0";
  } catch {
    return false;
  }
}
