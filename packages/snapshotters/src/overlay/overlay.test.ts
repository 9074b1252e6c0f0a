import { snapshotterSuite } from "../testsuite/index.ts";
import { OverlaySnapshotter } from "./overlay.ts";

snapshotterSuite("overlayfs", (root) => OverlaySnapshotter.open(root));
