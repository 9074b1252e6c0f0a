/** `WWW-Authenticate` challenges (RFC 7235), parsed as containerd's auth.ParseAuthHeader does:
 *  scheme names lowercased, parameter names lowercased, quoted values unescaped, and the
 *  challenges sorted bearer, then digest, then basic. Several challenges may share one header
 *  line (fetch joins repeated headers with ", "); a bare token not followed by `=` starts the
 *  next challenge. */

export type AuthScheme = "bearer" | "digest" | "basic";
export type Challenge = { scheme: AuthScheme; params: Record<string, string> };

const rank: Record<AuthScheme, number> = { bearer: 0, digest: 1, basic: 2 };
const isTokenChar = (c: string) => /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(c);

export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && /[ \t\r\n]/.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && isTokenChar(header[i]!)) i++;
    return header.slice(start, i);
  };
  const quoted = () => {
    let value = "";
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === "\\" && i + 1 < n) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote
    return value;
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const word = token();
    if (word === "") {
      i++; // skip a stray character
      continue;
    }
    skipSpace();
    if (header[i] === "=" && current) {
      i++;
      skipSpace();
      const value = header[i] === '"' ? quoted() : token();
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (header[i] === "=") {
      // a parameter before any scheme: malformed, skip it
      i++;
      skipSpace();
      if (header[i] === '"') quoted();
      else token();
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out
    .filter((c): c is Challenge => c.scheme === "bearer" || c.scheme === "digest" || c.scheme === "basic")
    .map((c, idx) => ({ c, idx }))
    .sort((a, b) => rank[a.c.scheme] - rank[b.c.scheme] || a.idx - b.idx)
    .map(({ c }) => c);
}
