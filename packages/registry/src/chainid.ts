/** OCI chain IDs (image-spec identity.ChainID): the first layer's is its diffID; each next one
 *  is sha256 of "<parent chain ID> <diffID>". Committed unpacked layers are named by them. */

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const parent = out[out.length - 1];
    out.push(
      parent === undefined
        ? d
        : `sha256:${new Bun.CryptoHasher("sha256").update(`${parent} ${d}`).digest("hex")}`,
    );
  }
  return out;
}

export const chainId = (diffIds: readonly string[]): string => chainIds(diffIds).at(-1) ?? "";
