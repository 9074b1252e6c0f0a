/** HPACK against RFC 7541 Appendix C: every example decodes to its header list and leaves the
 *  dynamic table the RFC shows, and the encoder (with indexing) produces the same bytes, both
 *  without Huffman coding (C.3, C.5) and with it (C.4, C.6). */
import { describe, expect, test } from "bun:test";
import { HpackDecoder } from "./decoder.ts";
import { HpackEncoder } from "./encoder.ts";
import { HpackError } from "./errors.ts";

type Fields = [string, string][];
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const pairs = (flat: string[]): Fields => {
  const out: Fields = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};
const tableOf = (d: HpackDecoder): Fields =>
  Array.from({ length: d.table.length }, (_, i) => [d.table.name(i), d.table.value(i)]);

interface Step {
  block: string;
  fields: Fields;
  /** Dynamic table afterwards, newest first, and its size. */
  table: Fields;
  size: number;
}

const authority: [string, string] = [":authority", "www.example.com"];
const req1: Fields = [[":method", "GET"], [":scheme", "http"], [":path", "/"], authority];
const req2: Fields = [...req1, ["cache-control", "no-cache"]];
const req3: Fields = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  authority,
  ["custom-key", "custom-value"],
];
const requestTables: Fields[] = [
  [authority],
  [["cache-control", "no-cache"], authority],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], authority],
];

const date1: [string, string] = ["date", "Mon, 21 Oct 2013 20:13:21 GMT"];
const date2: [string, string] = ["date", "Mon, 21 Oct 2013 20:13:22 GMT"];
const location: [string, string] = ["location", "https://www.example.com"];
const cookie: [string, string] = ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"];
const resp1: Fields = [[":status", "302"], ["cache-control", "private"], date1, location];
const resp2: Fields = [[":status", "307"], ["cache-control", "private"], date1, location];
const resp3: Fields = [
  [":status", "200"],
  ["cache-control", "private"],
  date2,
  location,
  ["content-encoding", "gzip"],
  cookie,
];
const responseTables: Fields[] = [
  [location, date1, ["cache-control", "private"], [":status", "302"]],
  [[":status", "307"], location, date1, ["cache-control", "private"]],
  [cookie, ["content-encoding", "gzip"], date2],
];

const examples: Record<string, { tableSize: number; huffman: boolean; steps: Step[] }> = {
  "C.3 requests without Huffman": {
    tableSize: 4096,
    huffman: false,
    steps: [
      {
        block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        fields: req1,
        table: requestTables[0]!,
        size: 57,
      },
      { block: "8286 84be 5808 6e6f 2d63 6163 6865", fields: req2, table: requestTables[1]!, size: 110 },
      {
        block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        fields: req3,
        table: requestTables[2]!,
        size: 164,
      },
    ],
  },
  "C.4 requests with Huffman": {
    tableSize: 4096,
    huffman: true,
    steps: [
      {
        block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        fields: req1,
        table: requestTables[0]!,
        size: 57,
      },
      { block: "8286 84be 5886 a8eb 1064 9cbf", fields: req2, table: requestTables[1]!, size: 110 },
      {
        block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        fields: req3,
        table: requestTables[2]!,
        size: 164,
      },
    ],
  },
  "C.5 responses without Huffman (256-byte table, evictions)": {
    tableSize: 256,
    huffman: false,
    steps: [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        fields: resp1,
        table: responseTables[0]!,
        size: 222,
      },
      { block: "4803 3330 37c1 c0bf", fields: resp2, table: responseTables[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        fields: resp3,
        table: responseTables[2]!,
        size: 215,
      },
    ],
  },
  "C.6 responses with Huffman (256-byte table, evictions)": {
    tableSize: 256,
    huffman: true,
    steps: [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: resp1,
        table: responseTables[0]!,
        size: 222,
      },
      { block: "4883 640e ffc1 c0bf", fields: resp2, table: responseTables[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: resp3,
        table: responseTables[2]!,
        size: 215,
      },
    ],
  },
};

test.each([
  [
    "C.2.1 literal with indexing",
    "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    [["custom-key", "custom-header"]],
    55,
  ],
  ["C.2.2 literal without indexing", "040c 2f73 616d 706c 652f 7061 7468", [[":path", "/sample/path"]], 0],
  ["C.2.3 literal never indexed", "1008 7061 7373 776f 7264 0673 6563 7265 74", [["password", "secret"]], 0],
  ["C.2.4 indexed", "82", [[":method", "GET"]], 0],
] as [string, string, Fields, number][])("%s", (_name, block, fields, size) => {
  const d = new HpackDecoder();
  expect(pairs(d.decode(hex(block)))).toEqual(fields);
  expect(d.table.size).toBe(size);
  expect(tableOf(d)).toEqual(size ? fields : []);
});

for (const [name, { tableSize, huffman, steps }] of Object.entries(examples)) {
  describe(name, () => {
    test("decodes each block and leaves the RFC's dynamic table", () => {
      const d = new HpackDecoder(tableSize);
      for (const step of steps) {
        expect(pairs(d.decode(hex(step.block)))).toEqual(step.fields);
        expect(tableOf(d)).toEqual(step.table);
        expect(d.table.size).toBe(step.size);
      }
    });
    test("the encoder writes the same bytes", () => {
      const e = new HpackEncoder({ indexing: true, huffman, maxTableSize: tableSize });
      for (const step of steps)
        expect(Buffer.from(e.encode(step.fields)).toString("hex")).toBe(
          Buffer.from(hex(step.block)).toString("hex"),
        );
    });
  });
}

test("literals without indexing (the server's replies) round-trip and leave no table state", () => {
  const fields: Fields = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "13"],
    ["grpc-message", "x".repeat(300)],
  ];
  for (const huffman of [false, true]) {
    const d = new HpackDecoder();
    expect(pairs(d.decode(new HpackEncoder({ huffman }).encode(fields)))).toEqual(fields);
    expect(d.table.length).toBe(0);
  }
});

test("a smaller peer table size is acknowledged by a size update at the next block", () => {
  const e = new HpackEncoder();
  e.setPeerMaxTableSize(0);
  const block = e.encode([["grpc-status", "0"]]);
  expect(block[0]).toBe(0x20);
  const d = new HpackDecoder();
  expect(pairs(d.decode(block))).toEqual([["grpc-status", "0"]]);
  expect(d.table.maxSize).toBe(0);
  expect(e.encode([["grpc-status", "0"]])[0]).toBe(0x00);
});

test("size updates: evict, allowed only first, never beyond our setting", () => {
  const d = new HpackDecoder(4096);
  d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  expect(d.table.length).toBe(1);
  expect(pairs(d.decode(hex("20 3f e1 1f 82")))).toEqual([[":method", "GET"]]); // 0, then 4096
  expect([d.table.length, d.table.maxSize]).toEqual([0, 4096]);
  expect(() => d.decode(hex("82 20"))).toThrow(HpackError);
  expect(() => d.decode(hex("3f e2 1f"))).toThrow("beyond 4096"); // 4097
});

test("malformed blocks are errors, not garbage", () => {
  const bad = {
    "index 0": "80",
    "index past the table": "be",
    "name index past the table": "7e 01 61",
    "truncated integer": "ff",
    "integer overflow": "ff ff ff ff ff ff 7f",
    "string past the block": "00 05 61",
    "huffman padding of zeros": "00 01 61 81 00",
    "huffman EOS": "00 01 61 85 ff ff ff ff fc",
    "huffman padding over 7 bits": "00 01 61 82 1f ff",
  };
  for (const [what, block] of Object.entries(bad)) {
    expect(() => new HpackDecoder().decode(hex(block)), what).toThrow(HpackError);
  }
});

test("the header list limit applies to decoded sizes", () => {
  const d = new HpackDecoder(4096, 100);
  const e = new HpackEncoder();
  expect(() => d.decode(e.encode([["a", "x".repeat(80)]]))).toThrow("header list larger");
});

test("random header lists survive many blocks through one encoder and decoder pair", () => {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const word = () => Array.from({ length: 1 + rand(40) }, () => String.fromCharCode(rand(256))).join("");
  const names = ["content-type", "grpc-timeout", "x-a", "x-b", ":path", "user-agent", "date"];
  for (const tableSize of [4096, 300, 64, 0]) {
    const e = new HpackEncoder({ indexing: true, huffman: rand(2) === 1, maxTableSize: tableSize });
    const d = new HpackDecoder(tableSize);
    const pool: Fields = Array.from({ length: 30 }, () => [names[rand(names.length)]!, word()]);
    for (let block = 0; block < 300; block++) {
      const fields: Fields = Array.from({ length: rand(12) }, () =>
        rand(3) ? pool[rand(pool.length)]! : [`n-${rand(500)}`, word()],
      );
      expect(pairs(d.decode(e.encode(fields)))).toEqual(fields);
      expect(d.table.size).toBeLessThanOrEqual(tableSize);
    }
  }
});
