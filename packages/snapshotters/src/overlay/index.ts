/** The overlayfs snapshotter and the host checks its plugin runs. */
export { needsUserXAttr, overlaySupport, supportsIndex } from "./check.ts";
export { type OverlayOptions, OverlaySnapshotter, UPPERDIR_LABEL } from "./overlay.ts";
