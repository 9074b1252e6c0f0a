/** The suite every snapshotter must pass (containerd's snapshots/testsuite, in bun:test).
 *  Each check runs on a fresh temporary root; checks that mount need root and are skipped
 *  without it. Call from a `*.test.ts`:
 *
 *    snapshotterSuite("overlayfs", (root) => OverlaySnapshotter.open(root));
 */
import { afterAll, describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountInfo } from "../mount.ts";
import { isRoot, type OpenSnapshotter, type SuiteContext, withSnapshotter } from "./harness.ts";
import {
  checkCommitView,
  checkDeepStack,
  checkDeletions,
  checkOwnership,
  checkRenames,
  checkReopenKeepsFiles,
  checkUsageMeasured,
  checkViewReadonly,
} from "./layers.ts";
import {
  checkCommitLabels,
  checkRefusals,
  checkRemoveIntermediate,
  checkRemoveReuse,
  checkReopenKeepsRecords,
  checkStatUpdate,
  checkWalkFilters,
} from "./records.ts";

export { type Applier, apply, createDir, createFile, expectedTree, removeAll, tree } from "./fstest.ts";
export {
  collect,
  type OpenSnapshotter,
  rejection,
  type SuiteContext,
  withMounted,
  withSnapshotter,
} from "./harness.ts";

export interface SuiteOptions {
  /** Layers in the deep-stack check (default 128). */
  depth?: number;
}

export function snapshotterSuite(name: string, open: OpenSnapshotter, opts: SuiteOptions = {}): void {
  const depth = opts.depth ?? 128;
  const run = (check: (c: SuiteContext) => Promise<void>) => () => withSnapshotter(name, open, check);
  const rootOnly = test.skipIf(!isRoot());

  describe(`${name} snapshotter suite`, () => {
    rootOnly("prepare → write through the mount → commit → a view sees the files", run(checkCommitView));
    rootOnly("files and directories deleted in an upper layer are hidden above it", run(checkDeletions));
    rootOnly("renames and hard links of lower files", run(checkRenames));
    rootOnly("owners and modes carry through the layers", run(checkOwnership));
    rootOnly("a view mounts read-only", run(checkViewReadonly));
    rootOnly(
      `${depth} stacked layers still mount`,
      run((c) => checkDeepStack(c, depth)),
    );
    rootOnly("usage of an active snapshot is measured, committed usage recorded", run(checkUsageMeasured));
    rootOnly("close and reopen keep the files", run(checkReopenKeepsFiles));

    test("stat, and update of labels as containerd", run(checkStatUpdate));
    test("walk with containerd's filters", run(checkWalkFilters));
    test("containerd's refusals: kinds and wording", run(checkRefusals));
    test("remove refuses a snapshot that has children", run(checkRemoveIntermediate));
    test("removed keys and names can be used again", run(checkRemoveReuse));
    test("commit replaces labels", run(checkCommitLabels));
    test("close twice, refuse when closed, reopen keeps everything", run(checkReopenKeepsRecords));

    afterAll(() => {
      // Nothing the suite mounted is still there (/proc/self/mountinfo).
      const prefix = join(realpathSync(tmpdir()), `snapshot-suite-${name}-`);
      expect(mountInfo().filter((m) => m.mountPoint.startsWith(prefix))).toEqual([]);
    });
  });
}
