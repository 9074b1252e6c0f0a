/** Platform matchers with ordering (containerd's platforms/compare.go). A matcher says whether
 *  a platform is acceptable; `less` orders candidates best first, so that an index entry for
 *  the preferred platform wins over a compatible fallback. */

import { defaultSpec, normalize, type Platform } from "./platform.ts";

export interface PlatformMatcher {
  match(platform: Platform): boolean;
  /** True when `a` is preferred over `b`. */
  less(a: Platform, b: Platform): boolean;
}

/** Exact match after normalization of both sides (containerd's NewMatcher). */
export function newMatcher(platform: Platform): (p: Platform) => boolean {
  const want = normalize(platform);
  return (p) => {
    const got = normalize(p);
    return (
      got.os === want.os &&
      got.architecture === want.architecture &&
      (got.variant ?? "") === (want.variant ?? "")
    );
  };
}

/** The platforms a host of `platform` can also run, best first (containerd's platformVector). */
export function platformVector(platform: Platform): Platform[] {
  const vector: Platform[] = [platform];
  const same = (architecture: string, variant?: string): Platform =>
    variant ? { os: platform.os, architecture, variant } : { os: platform.os, architecture };
  switch (platform.architecture) {
    case "amd64": {
      const level = Number.parseInt((platform.variant ?? "").replace(/^v/, ""), 10);
      if (level > 1) for (let v = level - 1; v >= 1; v--) vector.push(same("amd64", `v${v}`));
      vector.push(same("386"));
      break;
    }
    case "arm": {
      const level = Number.parseInt((platform.variant ?? "").replace(/^v/, ""), 10);
      if (level > 5) for (let v = level - 1; v >= 5; v--) vector.push(same("arm", `v${v}`));
      break;
    }
    case "arm64":
      vector.push(...platformVector(same("arm", platform.variant || "v8")));
      break;
  }
  return vector;
}

/** Matches any of `platforms`, preferring them in the order given (containerd's Ordered). */
export function ordered(...platforms: Platform[]): PlatformMatcher {
  const matchers = platforms.map(newMatcher);
  return {
    match: (p) => matchers.some((m) => m(p)),
    less(a, b) {
      for (const m of matchers) {
        const am = m(a);
        const bm = m(b);
        if (am && !bm) return true;
        if (am || bm) return false;
      }
      return false;
    },
  };
}

/** Matches any of `platforms` with no preference among them (containerd's Any). */
export function any(...platforms: Platform[]): PlatformMatcher {
  const matchers = platforms.map(newMatcher);
  const match = (p: Platform) => matchers.some((m) => m(p));
  return { match, less: (a, b) => match(a) && !match(b) };
}

/** Every platform, no preference (containerd's All; `--all-platforms`). */
export const all: PlatformMatcher = { match: () => true, less: () => false };

/** `platform` and what it can run: arm/v8 also takes v7, v6, v5; arm64 takes arm; amd64
 *  takes 386 (containerd's Only). */
export const only = (platform: Platform): PlatformMatcher => ordered(...platformVector(normalize(platform)));

/** `platform` alone, in any spelling (`arm64` matches `arm64/v8`) (containerd's OnlyStrict). */
export const onlyStrict = (platform: Platform): PlatformMatcher => ordered(normalize(platform));

/** The host platform alone: what `ctr pull` fetches without `--platform` (it passes
 *  DefaultSpec to an Ordered matcher), so on amd64 only amd64 manifests match. */
export const defaultMatcher = (): PlatformMatcher => onlyStrict(defaultSpec());
