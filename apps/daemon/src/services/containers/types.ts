/** The container record as the metadata store keeps it, and the local service's surface.
 *  The tasks service (runtime worker) reads containers through a proxy to
 *  `io.containerd.service.v1.containers-service`; this file is the contract between them. */

/** A protobuf `Any` kept as its type URL and raw bytes, exactly as the client sent it. */
export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

export interface Container {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: AnyValue };
  spec?: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  updatedAt: Date;
  extensions: Record<string, AnyValue>;
  /** containerd 1.7's sandbox id (field 11); empty when the container is not in a sandbox. */
  sandbox: string;
}

export interface ContainersLocal {
  /** NotFound "container \"<id>\" in namespace \"<ns>\": not found" when missing. */
  get(namespace: string, id: string): Promise<Container>;
  list(namespace: string, filters: string[]): Promise<Container[]>;
  /** AlreadyExists when the id is taken; InvalidArgument naming the field when the record is bad. */
  create(namespace: string, container: Container): Promise<Container>;
  /** `paths` is the update mask (containerd's field paths: labels, labels.<key>, image, spec,
   *  snapshotkey, extensions, extensions.<key>; `runtime` and `snapshotter` are refused, as in
   *  containerd); empty updates all mutable ones and refuses a changed snapshotter or runtime name. */
  update(namespace: string, container: Container, paths: string[]): Promise<Container>;
  delete(namespace: string, id: string): Promise<void>;
}
