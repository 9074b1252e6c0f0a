import { expect, test } from "bun:test";
import { RequestStream } from "./request-stream.ts";

const flow = () => {
  const log: string[] = [];
  return { log, pause: () => log.push("pause"), resume: () => log.push("resume") };
};
const m = (n: number) => Uint8Array.of(n);

test("yields pushed messages in order, waits for more, ends at end()", async () => {
  const s = new RequestStream(flow());
  s.push(m(1));
  const pending = s.next();
  expect((await pending).value).toEqual(m(1));
  const later = s.next();
  s.push(m(2));
  expect((await later).value).toEqual(m(2));
  s.push(m(3));
  s.end();
  expect((await s.next()).value).toEqual(m(3));
  expect((await s.next()).done).toBe(true);
});

test("pauses the HTTP/2 stream when the handler falls behind, resumes as it catches up", async () => {
  const f = flow();
  const s = new RequestStream(f);
  for (let i = 0; i < 16; i++) s.push(m(i));
  expect(f.log).toEqual(["pause"]);
  for (let i = 0; i < 12; i++) await s.next();
  expect(f.log).toEqual(["pause", "resume"]);
});

test("fail() rejects a waiting and a later next(); return() drops the rest", async () => {
  const s = new RequestStream(flow());
  const waiting = s.next();
  s.fail(new Error("cancelled"));
  await expect(waiting).rejects.toThrow("cancelled");
  await expect(s.next()).rejects.toThrow("cancelled");
  const t = new RequestStream(flow());
  t.push(m(1));
  await t.return();
  t.push(m(2));
  expect((await t.next()).done).toBe(true);
});
