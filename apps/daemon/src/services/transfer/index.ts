/** Transfer: the containerd.services.transfer.v1 adapter over the local transferrer. */
export { transferGrpc } from "./plugin.ts";
export { parseDestination, parseSource, transferService } from "./service.ts";
