/** Runtime options: how a task's runc is run. They arrive as a protobuf `Any` in Create
 *  (`containerd.runc.v1.Options`, or the older `containerd.linux.runc.CreateOptions` /
 *  `RuncOptions`), are kept in `<bundle>/options.json` so that `delete` after a dead shim finds
 *  the same runc root and binary, and default to containerd's runc shim's values. */
import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "@bunkerd/plugin-api";
import {
  CreateOptionsSchema,
  RuncOptionsSchema,
} from "@bunkerd/proto/containerd/runtime/linux/runctypes/runc_pb.ts";
import { OptionsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { defaultOptions, type RuncOptions } from "./options-file.ts";

export {
  DEFAULT_RUNC_ROOT,
  defaultOptions,
  type RuncOptions,
  readOptions,
  writeOptions,
} from "./options-file.ts";

const bareName = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf("/") + 1);

/** The options in an `Any` (absent or empty means the defaults); an unknown type is refused. */
export function parseOptions(any: Any | undefined): RuncOptions {
  const o = defaultOptions();
  if (!any || any.typeUrl === "") return o;
  const name = bareName(any.typeUrl);
  try {
    switch (name) {
      case "containerd.runc.v1.Options": {
        const m = fromBinary(OptionsSchema, any.value);
        o.binaryName = m.binaryName || o.binaryName;
        o.root = m.root || o.root;
        o.systemdCgroup = m.systemdCgroup;
        o.noPivotRoot = m.noPivotRoot;
        o.noNewKeyring = m.noNewKeyring;
        o.ioUid = m.ioUid;
        o.ioGid = m.ioGid;
        o.shimCgroup = m.shimCgroup;
        o.criuPath = m.criuPath;
        return o;
      }
      case "containerd.linux.runc.CreateOptions": {
        const m = fromBinary(CreateOptionsSchema, any.value);
        o.noPivotRoot = m.noPivotRoot;
        o.noNewKeyring = m.noNewKeyring;
        o.ioUid = m.ioUid;
        o.ioGid = m.ioGid;
        o.shimCgroup = m.shimCgroup;
        return o;
      }
      case "containerd.linux.runc.RuncOptions": {
        const m = fromBinary(RuncOptionsSchema, any.value);
        o.binaryName = m.runtime || o.binaryName;
        o.root = m.runtimeRoot || o.root;
        o.systemdCgroup = m.systemdCgroup;
        o.criuPath = m.criuPath;
        return o;
      }
    }
  } catch (e) {
    throw invalidArgument(`runtime options ${name}: ${(e as Error).message}`);
  }
  throw invalidArgument(`runtime options: unsupported type ${JSON.stringify(any.typeUrl)}`);
}

/** Kept with containerd's option names, so a person reading the bundle recognises them. */
