import { snapshotterSuite } from "../testsuite/index.ts";
import { NativeSnapshotter } from "./native.ts";

snapshotterSuite("native", (root) => NativeSnapshotter.open(root));
