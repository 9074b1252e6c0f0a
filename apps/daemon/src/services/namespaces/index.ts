/** The Namespaces service: its local implementation, run beside the metadata store. */
export {
  type CallOptions,
  type EncodedEvent,
  type Namespace,
  NamespacesLocal,
  NamespaceTopic,
  type Publish,
} from "./local.ts";
