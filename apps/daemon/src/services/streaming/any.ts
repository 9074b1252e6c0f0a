/** google.protobuf.Any the way containerd's typeurl writes it: the bare message name as type URL
 *  (`containerd.types.transfer.Progress`), which the Go client needs; both the bare and the
 *  `type.googleapis.com/` forms are read. */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { invalidArgument } from "@bunkerd/plugin-api";
import type { AnyMessage } from "./manager.ts";

export const typeNameOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf("/") + 1);

export function packAny<D extends DescMessage>(schema: D, init: MessageInitShape<D>): AnyMessage {
  return { typeUrl: schema.typeName, value: toBinary(schema, create(schema, init)) };
}

/** The message inside `any`, which must be of `schema`'s type; InvalidArgument otherwise. */
export function unpackAny<D extends DescMessage>(
  any: AnyMessage | undefined,
  schema: D,
  field: string,
): MessageShape<D> {
  if (!any) throw invalidArgument(`${field} is required`);
  const name = typeNameOf(any.typeUrl);
  if (name !== schema.typeName)
    throw invalidArgument(`${field}: expected ${schema.typeName}, got ${JSON.stringify(any.typeUrl)}`);
  try {
    return fromBinary(schema, any.value);
  } catch (e) {
    throw invalidArgument(`${field}: cannot decode ${schema.typeName}: ${(e as Error).message}`);
  }
}
