/** ServerStream over a node:http2 server stream: the transport the gRPC server first ran on
 *  (BUN-NOTES, "gRPC server"), kept beside our own HTTP/2 server so both pass one suite. */
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { frame } from "./framing.ts";
import type { RequestHeaders, ServerStream, StreamListener, Trailers } from "./transport.ts";

const grpcContentType = "application/grpc";
const okHeaders = { ":status": 200, "content-type": grpcContentType } as const;

export class NodeServerStream implements ServerStream {
  private trailers: Trailers | undefined;
  private wantsTrailers = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: RequestHeaders & IncomingHttpHeaders,
    /** Stream errors (a reset stream is routine) and failures to send trailers. */
    private readonly onError: (e: Error) => void,
  ) {
    stream.on("error", onError);
  }

  get open(): boolean {
    return !this.stream.destroyed;
  }

  listen(listener: StreamListener): void {
    const s = this.stream;
    s.on("data", (chunk: Buffer) => listener.data(chunk));
    s.on("end", () => listener.end());
    s.on("close", () => listener.closed());
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  respond(): void {
    this.stream.respond(okHeaders, { waitForTrailers: true });
    this.stream.on("wantTrailers", this.onWantTrailers); // fires once; `once` costs a wrapper
  }

  writeMessage(message: Uint8Array): boolean {
    return this.stream.write(frame(message));
  }

  drained(): Promise<void> {
    const s = this.stream;
    if (s.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        s.off("drain", done);
        s.off("close", done);
        resolve();
      };
      s.on("drain", done);
      s.on("close", done);
    });
  }

  end(trailers: Trailers): void {
    this.trailers = trailers;
    this.wantsTrailers = true;
    this.stream.end();
  }

  endWithStatus(httpStatus: number, trailers: Trailers): void {
    this.stream.respond(
      { ":status": httpStatus, "content-type": grpcContentType, ...trailers },
      { endStream: true },
    );
  }

  discard(): void {
    if (!this.stream.readableEnded) this.stream.resume();
  }

  private readonly onWantTrailers = (): void => {
    if (!this.wantsTrailers) return;
    try {
      this.stream.sendTrailers(this.trailers ?? {});
    } catch (e) {
      this.onError(e as Error);
    }
  };
}
