/** Entry module of every plugin worker: the bundled plugin modules, served by the runtime.
 *  Loaders, not modules: a worker imports only the modules of its own plugins. */
import { serveWorker } from "@bunkerd/plugin-api";
import { builtinModules } from "../builtin-modules.ts";

serveWorker(builtinModules);
