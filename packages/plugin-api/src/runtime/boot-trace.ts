/** Boot phase marks for profiling start-up: with BUNKERD_BOOT_TRACE=1 each mark is one stderr
 *  line `boot-trace <epoch ms> <thread> <label>`, comparable across threads and with the
 *  spawning process's clock (bench/daemon.bench.ts reads them). Off, a mark costs one check. */
const on = !!process.env.BUNKERD_BOOT_TRACE;

export function traceBoot(thread: string, label: string): void {
  if (!on) return;
  const at = (performance.timeOrigin + performance.now()).toFixed(2);
  process.stderr.write(`boot-trace ${at} ${thread} ${label}\n`);
}
