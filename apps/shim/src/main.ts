/** containerd-shim-bunker-v2: the shim v2 binary for the runtime type io.containerd.bunker.v2.
 *
 *    <shim> -namespace NS -address ADDR -publish-binary BIN -id ID start     print the address
 *    <shim> -namespace NS -address ADDR -publish-binary BIN -id ID -bundle B delete
 *    <shim> -namespace NS -id ID -address ADDR -socket PATH                   serve (started by start)
 *    <shim> -v
 *
 *  Each action loads only what it needs: `start` and `delete` are short-lived processes. */
import { writeSync } from "node:fs";
import { parseFlags } from "./flags.ts";
import { SHIM_NAME, VERSION } from "./version.ts";

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.version) {
    console.log(`${SHIM_NAME}:\n  Version:  ${VERSION}\n  Runtime:  bun ${Bun.version}`);
    return;
  }
  switch (flags.action) {
    case "start": {
      const { startShim } = await import("./shim-start.ts");
      writeSync(1, await startShim(flags));
      process.exit(0);
      break;
    }
    case "delete": {
      const { deleteShim } = await import("./shim-delete.ts");
      const out = await deleteShim(flags, (msg) => console.error(msg));
      writeSync(1, out);
      process.exit(0);
      break;
    }
    default: {
      const { serve } = await import("./serve.ts");
      await serve(flags);
    }
  }
}

main().catch((e) => {
  console.error(`${SHIM_NAME}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
