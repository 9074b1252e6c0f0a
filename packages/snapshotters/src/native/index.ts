/** The native snapshotter: a full copy of the parent per active snapshot. */
export { copyDir } from "./copy.ts";
export { type NativeOptions, NativeSnapshotter } from "./native.ts";
