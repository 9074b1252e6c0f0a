/** `containerd.task.v2.DeleteResponse` (pid = 1, exit_status = 2, exited_at = 3) encoded by hand
 *  for `delete`: containerd runs `<shim> delete` after every shim disconnect, also a normal one,
 *  and waits for it inside Tasks.Delete. Booting protobuf-es and the task API's descriptors for
 *  these few bytes cost that process more time than everything else it does (measured ~15 ms). */

function varint(out: number[], v: bigint): void {
  let n = BigInt.asUintN(64, v);
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
}

/** proto3 leaves zero fields out, as protobuf-es's toBinary does. */
export function encodeDeleteResponse(pid: number, exitStatus: number, exitedAt: Date): Uint8Array {
  const ms = exitedAt.getTime();
  const seconds = BigInt(Math.floor(ms / 1000));
  const nanos = (ms - Number(seconds) * 1000) * 1_000_000;
  const ts: number[] = [];
  if (seconds !== 0n) {
    ts.push(0x08);
    varint(ts, seconds);
  }
  if (nanos !== 0) {
    ts.push(0x10);
    varint(ts, BigInt(nanos));
  }
  const out: number[] = [];
  if (pid !== 0) {
    out.push(0x08);
    varint(out, BigInt(pid >>> 0));
  }
  if (exitStatus !== 0) {
    out.push(0x10);
    varint(out, BigInt(exitStatus >>> 0));
  }
  out.push(0x1a);
  varint(out, BigInt(ts.length));
  out.push(...ts);
  return Uint8Array.from(out);
}
