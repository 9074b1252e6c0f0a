/** A worker that resolves and fetches with @bunkerd/registry: proves the client needs nothing
 *  from the main thread but plain data. */

import { createResolver, digestOf } from "../index.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<{ ref: string }>) => {
  try {
    const resolver = createResolver({ retryDelayMs: 5 });
    const { name, desc } = await resolver.resolve(event.data.ref);
    const bytes = await resolver.fetcher(name).fetchBytes(desc);
    self.postMessage({ name, desc, digest: digestOf(bytes) });
  } catch (e) {
    self.postMessage({ error: String(e) });
  }
};
