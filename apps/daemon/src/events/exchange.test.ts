import { expect, test } from "bun:test";
import { Exchange } from "./exchange.ts";

const ev = { typeUrl: "containerd.events.NamespaceCreate", value: new Uint8Array([10, 1, 120]) };

test("subscribers see matching events in order, others don't", async () => {
  const x = new Exchange();
  const ac = new AbortController();
  const all = x.subscribe([], ac.signal);
  const onlyNs = x.subscribe(['topic~="^/namespaces/"'], ac.signal);
  const pAll = all.next();
  const pNs = onlyNs.next();
  await x.publish("default", "/tasks/exit", ev);
  await x.publish("default", "/namespaces/create", ev);
  expect((await pAll).value?.topic).toBe("/tasks/exit");
  expect((await pNs).value?.topic).toBe("/namespaces/create");
  expect((await all.next()).value?.topic).toBe("/namespaces/create");
  ac.abort();
  expect((await all.next()).done).toBe(true);
  expect((await onlyNs.next()).done).toBe(true);
  expect(x.subscriberCount).toBe(0);
});

test("bad topics and namespaces are refused as containerd refuses them", async () => {
  const x = new Exchange();
  await expect(x.publish("default", "tasks/exit", ev)).rejects.toThrow("must start with '/'");
  await expect(x.publish("default", "/", ev)).rejects.toThrow("must have at least one component");
  await expect(x.publish("default", "/tasks/-bad", ev)).rejects.toThrow(
    'failed validation on component "-bad"',
  );
  await expect(x.publish("bad ns", "/tasks/exit", ev)).rejects.toThrow('identifier "bad ns" must match');
});
