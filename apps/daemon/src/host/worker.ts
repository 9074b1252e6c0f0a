/** Entry module of every plugin worker: the bundled plugin modules, served by the runtime. */
import { serveWorker } from "@bunkerd/plugin-api";
import { builtins } from "../builtins.ts";

serveWorker(builtins);
