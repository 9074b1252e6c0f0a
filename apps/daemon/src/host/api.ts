/** What the router-level plugins (version, introspection, events, health) see of the host.
 *  They run on the main thread because their data is the host's own. */
import type { Exchange } from "../events/exchange.ts";
import type { PluginStatus } from "./host.ts";

export interface HostApi {
  readonly exchange: Exchange;
  plugins(): readonly PluginStatus[];
  readonly version: { version: string; revision: string };
  /** Root dir, for state the router-level plugins persist (the server uuid). */
  readonly root: string;
  /** False once the daemon is stopping; health reports NOT_SERVING. */
  serving(): boolean;
  onServingChange(fn: (serving: boolean) => void): () => void;
}
