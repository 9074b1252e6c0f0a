/** OCI platforms: containerd's specifier syntax (`<os>|<arch>|<os>/<arch>[/<variant>]`), its
 *  normalization table (platforms/database.go) and the host's default spec. */

import { readFileSync } from "node:fs";
import { endianness } from "node:os";
import { invalidArgument } from "@bunkerd/plugin-api";

/** The OCI platform object, with the field names it has in descriptors and image configs. */
export type Platform = {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
};

const knownOS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "windows",
  "zos",
]);
const knownArch = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "ppc64",
  "ppc64le",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);

/** GOOS/GOARCH of this process, as Go's runtime would name them. */
export function hostOS(): string {
  return process.platform === "win32" ? "windows" : process.platform;
}

export function hostArch(): string {
  switch (process.arch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "ppc64":
      return endianness() === "LE" ? "ppc64le" : "ppc64";
    case "mipsel":
      return "mipsle";
    default:
      return process.arch;
  }
}

let cachedVariant: string | undefined;

/** containerd's cpuVariant(): the ARM architecture version from /proc/cpuinfo; "" elsewhere. */
export function cpuVariant(): string {
  if (cachedVariant !== undefined) return cachedVariant;
  const arch = hostArch();
  cachedVariant = "";
  if (arch !== "arm" && arch !== "arm64") return cachedVariant;
  if (hostOS() !== "linux") {
    cachedVariant = arch === "arm64" ? "v8" : "v7";
    return cachedVariant;
  }
  let info = "";
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return cachedVariant;
  }
  const field = (name: string) =>
    info
      .split("\n")
      .find((l) => l.split(":")[0]?.trim().toLowerCase() === name)
      ?.split(":")
      .slice(1)
      .join(":")
      .trim();
  let v = field("cpu architecture");
  if (v === undefined) return cachedVariant;
  // Raspberry Pi ARMv6 reports "7" through a kernel quirk.
  if (arch === "arm" && v === "7" && field("model name")?.toLowerCase().startsWith("armv6-compatible"))
    v = "6";
  const table: Record<string, string> = {
    "8": "v8",
    aarch64: "v8",
    "7": "v7",
    "7m": "v7",
    "?(12)": "v7",
    "?(13)": "v7",
    "?(14)": "v7",
    "?(15)": "v7",
    "?(16)": "v7",
    "?(17)": "v7",
    "6": "v6",
    "6tej": "v6",
    "5": "v5",
    "5t": "v5",
    "5te": "v5",
    "5tej": "v5",
    "4": "v4",
    "4t": "v4",
    "3": "v3",
  };
  cachedVariant = table[v.toLowerCase()] ?? "unknown";
  return cachedVariant;
}

/** The platform this process runs as (containerd's DefaultSpec). */
export function defaultSpec(): Platform {
  const p: Platform = { os: hostOS(), architecture: hostArch() };
  const variant = cpuVariant();
  if (variant) p.variant = variant;
  return p;
}

export function normalizeOS(os: string): string {
  if (os === "") return hostOS();
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

export function normalizeArch(arch: string, variant: string): [arch: string, variant: string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case "i386":
      return ["386", ""];
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", variant === "v1" ? "" : variant];
    case "aarch64":
    case "arm64":
      return ["arm64", variant === "8" || variant === "v8" ? "" : variant];
    case "armhf":
      return ["arm", "v7"];
    case "armel":
      return ["arm", "v6"];
    case "arm":
      if (variant === "" || variant === "7") return ["arm", "v7"];
      if (variant === "5" || variant === "6" || variant === "8") return ["arm", `v${variant}`];
      return ["arm", variant];
    default:
      return [arch, variant];
  }
}

/** Canonical form: `aarch64` → `arm64`, `arm` → `arm/v7`, `arm64/v8` → `arm64`, `x86_64` → `amd64`;
 *  the deprecated os.version/os.features are dropped, as containerd's Normalize does. */
export function normalize(platform: Platform): Platform {
  const [architecture, variant] = normalizeArch(platform.architecture ?? "", platform.variant ?? "");
  const p: Platform = { os: normalizeOS(platform.os ?? ""), architecture };
  if (variant) p.variant = variant;
  return p;
}

const componentRe = /^[A-Za-z0-9_-]+$/;

/** Parses a specifier (`linux`, `arm64`, `linux/arm/v7`); the missing part is the host's. */
export function parse(specifier: string): Platform {
  if (specifier.includes("*"))
    throw invalidArgument(`${JSON.stringify(specifier)}: wildcards not yet supported`);
  const parts = specifier.split("/");
  for (const part of parts) {
    if (!componentRe.test(part)) {
      throw invalidArgument(
        `${JSON.stringify(part)} is an invalid component of ${JSON.stringify(specifier)}: platform specifier component must match "${componentRe.source}"`,
      );
    }
  }
  const withVariant = (os: string, arch: string, variant: string): Platform => {
    const p: Platform = { os, architecture: arch };
    if (variant) p.variant = variant;
    return p;
  };
  switch (parts.length) {
    case 1: {
      const os = normalizeOS(parts[0]!);
      if (knownOS.has(os)) {
        const arch = hostArch();
        if (arch === "arm" && cpuVariant() !== "v7") return withVariant(os, arch, cpuVariant());
        return withVariant(os, ...normalizeArch(arch, ""));
      }
      const [arch, variant] = normalizeArch(parts[0]!, "");
      if (knownArch.has(arch)) return withVariant(hostOS(), arch, variant);
      throw invalidArgument(`${JSON.stringify(specifier)}: unknown operating system or architecture`);
    }
    case 2:
      return withVariant(normalizeOS(parts[0]!), ...normalizeArch(parts[1]!, ""));
    case 3:
      return withVariant(normalizeOS(parts[0]!), ...normalizeArch(parts[1]!, parts[2]!));
    default:
      throw invalidArgument(`${JSON.stringify(specifier)}: cannot parse platform specifier`);
  }
}

export const parseAll = (specifiers: readonly string[]): Platform[] => specifiers.map(parse);

/** `linux/arm64/v8`-style string; "unknown" without an OS, as containerd prints it. */
export function format(platform: Platform): string {
  if (!platform.os) return "unknown";
  return [platform.os, platform.architecture, platform.variant].filter((s) => s).join("/");
}
