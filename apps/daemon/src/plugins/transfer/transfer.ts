/** io.containerd.transfer.v1.local's instance: picks the operation a source and destination
 *  make (containerd's localTransferService.Transfer). Only registry → image store (pull) is
 *  here; any other pair is NotImplemented, naming both. */
import { notImplemented } from "@bunkerd/plugin-api";
import { type PullServices, pull } from "./pull.ts";
import {
  describeObject,
  type TransferDestination,
  type TransferOptions,
  type TransferSource,
} from "./types.ts";

export class LocalTransfer {
  constructor(private readonly services: PullServices) {}

  async transfer(
    source: TransferSource,
    destination: TransferDestination,
    o: TransferOptions,
  ): Promise<void> {
    if (source.kind === "registry" && destination.kind === "image-store") {
      return pull(this.services, source, destination, o);
    }
    throw notImplemented(
      `unable to transfer from ${describeObject(source)} to ${describeObject(destination)}`,
    );
  }
}
