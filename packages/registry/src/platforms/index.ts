/** Platforms: parse `--platform` specifiers, normalize, format, and match/order index entries
 *  the way containerd's platforms package does. */

export {
  all,
  any,
  defaultMatcher,
  newMatcher,
  only,
  onlyStrict,
  ordered,
  type PlatformMatcher,
  platformVector,
} from "./matcher.ts";
export {
  cpuVariant,
  defaultSpec,
  format,
  hostArch,
  hostOS,
  normalize,
  normalizeArch,
  normalizeOS,
  type Platform,
  parse,
  parseAll,
} from "./platform.ts";
