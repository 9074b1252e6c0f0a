import { expect, test } from "bun:test";
import { formatTabs, SPACES, TABS } from "./tabwriter.ts";

test("spaces: columns as wide as the widest cell + 1, a trailing tab pads the last cell", () => {
  expect(formatTabs("NAME\tLABELS\t\ndefault\t\t\nfoo\tx=y,z=w\t\n", SPACES)).toBe(
    "NAME    LABELS  \ndefault         \nfoo     x=y,z=w \n",
  );
});

test("tabs: padding rounded up to the tab width, text after the last tab is not a cell", () => {
  const d = `sha256:${"a".repeat(64)}`;
  expect(formatTabs(`DIGEST\tSIZE\tAGE\tLABELS\n${d}\t405B\t12 seconds\tk=v\n`, TABS)).toBe(
    `DIGEST${"\t".repeat(9)}SIZE\tAGE\t\tLABELS\n${d}\t405B\t12 seconds\tk=v\n`,
  );
});

test("a line with fewer cells ends the column block", () => {
  expect(formatTabs("a\tbb\t\nlonger line\nccc\td\t\n", SPACES)).toBe("a bb \nlonger line\nccc d \n");
});
