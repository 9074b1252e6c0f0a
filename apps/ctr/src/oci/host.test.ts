import { expect, test } from "bun:test";
import { capsFromMask, currentCaps, hostDevices } from "./host.ts";

test("a capability mask names its bits in number order", () => {
  expect(capsFromMask("0")).toEqual([]);
  expect(capsFromMask("3")).toEqual(["CAP_CHOWN", "CAP_DAC_OVERRIDE"]);
  expect(capsFromMask("20000000")).toEqual(["CAP_AUDIT_WRITE"]);
  // Bits this list does not know (above CAP_CHECKPOINT_RESTORE) are left out, as containerd does.
  expect(capsFromMask("ffffffffffffffff")).toHaveLength(41);
  expect(currentCaps().length).toBeGreaterThan(0);
});

test("host devices: /dev/null is c 1:3 with its mode; directories like pts and the console are skipped", () => {
  const devs = hostDevices();
  expect(devs.find((d) => d.path === "/dev/null")).toMatchObject({
    type: "c",
    major: 1,
    minor: 3,
    fileMode: 0o666,
  });
  expect(devs.some((d) => d.path.startsWith("/dev/pts/") || d.path === "/dev/console")).toBe(false);
  const paths = devs.map((d) => d.path);
  expect(paths).toEqual(
    [...paths].sort((a, b) => (a.replaceAll("/", "\0") < b.replaceAll("/", "\0") ? -1 : 1)),
  );
});
