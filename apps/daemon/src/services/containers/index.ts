/** The Containers service: its local implementation, run beside the metadata store, and the
 *  contract the tasks service reads containers through. */
export { ContainersLocal, ContainerTopic } from "./local.ts";
export type { AnyValue, Container, ContainersLocal as ContainersLocalContract } from "./types.ts";
