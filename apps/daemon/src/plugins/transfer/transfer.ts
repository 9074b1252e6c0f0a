/** io.containerd.transfer.v1.local's instance: picks the operation a source and destination
 *  make (containerd's localTransferService.Transfer): registry → image store (pull), image
 *  store → registry (push), archive stream → image store (import), image store → archive
 *  stream (export). Any other pair is NotImplemented, naming both. */
import { notImplemented } from "@bunkerd/plugin-api";
import type { Descriptor } from "@bunkerd/registry";
import { exportStream } from "./export.ts";
import { importStream } from "./import.ts";
import { type PullServices, pull } from "./pull.ts";
import { push } from "./push.ts";
import {
  describeObject,
  type TransferDestination,
  type TransferOptions,
  type TransferSource,
} from "./types.ts";

export type TransferServices = PullServices & {
  images: PullServices["images"] & {
    get(ns: string, name: string): Promise<{ name: string; target: Descriptor }>;
  };
};

export class LocalTransfer {
  constructor(private readonly services: TransferServices) {}

  async transfer(
    source: TransferSource,
    destination: TransferDestination,
    o: TransferOptions,
  ): Promise<void> {
    const s = this.services;
    if (source.kind === "registry" && destination.kind === "image-store") {
      return pull(s, source, destination, o);
    }
    if (source.kind === "image-store" && destination.kind === "registry") {
      return push(s, source, destination, o);
    }
    if (source.kind === "import-stream" && destination.kind === "image-store") {
      return importStream(s, source, destination, o);
    }
    if (source.kind === "image-store" && destination.kind === "export-stream") {
      return exportStream(s, source, destination, o);
    }
    throw notImplemented(
      `unable to transfer from ${describeObject(source)} to ${describeObject(destination)}`,
    );
  }
}
