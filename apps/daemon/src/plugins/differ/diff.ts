/** Writing a layer from changes: containerd's `archive.ChangeWriter` and `WriteDiff`, then the
 *  compression and digests the walking differ returns. Deletions become `.wh.<name>` entries,
 *  an opaque directory `.wh..wh..opq`; hard links are kept (the first changed name carries the
 *  data, later ones link to it, unchanged names sharing the inode are linked in as well);
 *  `security.capability` is the one xattr carried, as containerd does; mtimes are truncated to
 *  seconds and no atime/ctime is written; sockets are skipped. */
import { once } from "node:events";
import * as zlib from "node:zlib";
import { type ChangeFn, ChangeKind, type Entry, withEntry } from "./changes.ts";
import type { Root } from "./resolve.ts";
import {
  close,
  lgetxattrAt,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_RDONLY,
  openat,
  readInto,
  readlinkat,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from "./sys.ts";
import type { TarWriter, WriteHeader } from "./tar-writer.ts";
import { TypeFlag } from "./tar.ts";

const COPY_CHUNK = 1 << 20;

export class ChangeWriter {
  private readonly whiteoutTime = Math.floor(Date.now() / 1000);
  private readonly inodeSrc = new Map<string, string>();
  private readonly inodeRefs = new Map<string, string[]>();
  private readonly addedDirs = new Set<string>();

  /** `upper` is the tree the changes describe: parents are read from it. */
  constructor(
    private readonly tw: TarWriter,
    private readonly upper: Root,
  ) {}

  readonly handle: ChangeFn = async (kind, path, e) => {
    if (kind === ChangeKind.Delete) {
      const slash = path.lastIndexOf("/");
      const name = `${path.slice(1, slash + 1)}.wh.${path.slice(slash + 1)}`;
      const hdr: WriteHeader = {
        name,
        typeflag: TypeFlag.Reg,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: this.whiteoutTime,
      };
      await this.includeParents(hdr);
      await this.tw.writeHeader(hdr);
      return;
    }
    if (e === undefined) return;
    const type = e.st.mode & S_IFMT;
    if (type === S_IFSOCK) return;
    const hdr = this.header(e, type);
    let additional: string[] | undefined;
    if (type !== S_IFDIR && e.st.nlink > 1) {
      const inode = `${e.st.dev}:${e.st.ino}`;
      const src = this.inodeSrc.get(inode);
      if (src !== undefined) {
        hdr.typeflag = TypeFlag.Link;
        hdr.linkname = src;
        hdr.size = 0;
      } else {
        if (kind === ChangeKind.Unmodified) {
          const refs = this.inodeRefs.get(inode) ?? [];
          refs.push(hdr.name);
          this.inodeRefs.set(inode, refs);
          return;
        }
        this.inodeSrc.set(inode, hdr.name);
        additional = this.inodeRefs.get(inode);
        this.inodeRefs.delete(inode);
      }
    } else if (kind === ChangeKind.Unmodified) {
      return;
    }
    if (type !== S_IFLNK) {
      const cap = lgetxattrAt(e.dirfd, e.name, "security.capability");
      if (cap !== undefined && cap.length > 0) hdr.xattrs = [["security.capability", cap]];
    }
    await this.includeParents(hdr);
    await this.tw.writeHeader(hdr);
    if (hdr.typeflag === TypeFlag.Reg && hdr.size > 0) await this.copy(e, hdr.size);
    if (additional !== undefined) {
      const source = hdr.name;
      for (const extra of additional) {
        const link: WriteHeader = { ...hdr, name: extra, typeflag: TypeFlag.Link, linkname: source, size: 0 };
        await this.includeParents(link);
        await this.tw.writeHeader(link);
      }
    }
  };

  private header(e: Entry, type: number): WriteHeader {
    let name = e.path.slice(1);
    const typeflag =
      type === S_IFDIR
        ? TypeFlag.Dir
        : type === S_IFLNK
          ? TypeFlag.Symlink
          : type === S_IFCHR
            ? TypeFlag.Char
            : type === S_IFBLK
              ? TypeFlag.Block
              : type === S_IFIFO
                ? TypeFlag.Fifo
                : TypeFlag.Reg;
    if (typeflag === TypeFlag.Dir && !name.endsWith("/")) name += "/";
    const h: WriteHeader = {
      name,
      typeflag,
      mode: e.st.mode & 0o7777,
      uid: e.st.uid,
      gid: e.st.gid,
      size: type === S_IFREG ? e.st.size : 0,
      mtime: e.st.mtimeSec,
    };
    if (typeflag === TypeFlag.Symlink) h.linkname = readlinkat(e.dirfd, e.name);
    if (typeflag === TypeFlag.Char || typeflag === TypeFlag.Block) {
      h.devmajor = e.st.rdevMajor;
      h.devminor = e.st.rdevMinor;
    }
    return h;
  }

  private async copy(e: Entry, size: number): Promise<void> {
    const fd = openat(e.dirfd, e.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      let n = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(size - n, 1)));
        const got = readInto(fd, buf, e.path);
        if (got === 0) break;
        if (n + got > size) throw new Error(`${e.path}: file grew while copying`);
        await this.tw.write(buf, 0, got);
        n += got;
      }
      if (n !== size) throw new Error(`short write copying file ${e.path}`);
    } finally {
      close(fd);
    }
  }

  /** containerd's includeParents: a changed entry's directory goes in first, once. */
  private async includeParents(hdr: WriteHeader): Promise<void> {
    const name = hdr.name.replace(/\/+$/, "");
    const slash = name.lastIndexOf("/");
    if (slash > 0) {
      const parent = name.slice(0, slash);
      if (!this.addedDirs.has(parent)) {
        this.addedDirs.add(parent);
        await withEntry(this.upper, `/${parent}`, (pe) => this.handle(ChangeKind.Modify, `/${parent}`, pe));
      }
    }
    if (hdr.typeflag === TypeFlag.Dir) this.addedDirs.add(name);
  }
}

export type LayerCompression = "none" | "gzip" | "zstd";

export interface LayerDigests {
  /** Digest of the blob as written (compressed). */
  digest: string;
  /** Size of the blob as written. */
  size: number;
  /** Digest of the uncompressed tar. */
  diffID: string;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
}

/** The tar stream → optional compression → the caller's sink, hashing both sides.
 *  gzip at zlib's default level (6), which is what Go's gzip.NewWriter uses; zstd at
 *  level 3, the default of containerd's zstd writer. */
export class LayerOutput {
  private readonly tarHash = new Bun.CryptoHasher("sha256");
  private readonly blobHash = new Bun.CryptoHasher("sha256");
  private tarSize = 0;
  private blobSize = 0;
  private readonly z: zlib.Gzip | zlib.ZstdCompress | undefined;
  private readonly pump: Promise<void> | undefined;
  /** What made the sink fail: reported instead of the stream's own abort. */
  private failed: unknown;

  constructor(
    compression: LayerCompression,
    private readonly sink: (chunk: Uint8Array) => Promise<void>,
  ) {
    if (compression === "none") return;
    const z =
      compression === "gzip"
        ? zlib.createGzip({ chunkSize: 1 << 20 })
        : zlib.createZstdCompress({ chunkSize: 1 << 20 });
    this.z = z;
    this.pump = (async () => {
      try {
        for await (const c of z) {
          this.blobHash.update(c as Uint8Array);
          this.blobSize += (c as Uint8Array).length;
          await this.sink(c as Uint8Array);
        }
      } catch (e) {
        this.failed ??= e;
        z.destroy(e as Error);
        throw e;
      }
    })();
    this.pump.catch(() => {});
  }

  readonly write = async (chunk: Uint8Array): Promise<void> => {
    this.tarHash.update(chunk);
    this.tarSize += chunk.length;
    if (this.z === undefined) {
      this.blobHash.update(chunk);
      this.blobSize += chunk.length;
      await this.sink(chunk);
      return;
    }
    if (this.failed !== undefined) throw this.failed;
    try {
      if (!this.z.write(chunk)) await once(this.z, "drain");
    } catch (e) {
      throw this.failed ?? e;
    }
  };

  async close(): Promise<LayerDigests> {
    if (this.z !== undefined) {
      this.z.end();
      await this.pump;
    }
    if (this.failed !== undefined) throw this.failed;
    return {
      digest: `sha256:${this.blobHash.digest("hex")}`,
      size: this.blobSize,
      diffID: `sha256:${this.tarHash.digest("hex")}`,
      uncompressedSize: this.tarSize,
    };
  }

  destroy(e?: Error): void {
    this.z?.destroy(e);
  }
}
