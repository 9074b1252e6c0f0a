/** HPACK's dynamic table (RFC 7541 2.3.2, 4): newest entry first, sized by name + value
 *  octets + 32 per entry, oldest entries evicted to stay within the maximum size. A ring
 *  buffer, so adding and evicting never shift the array. */
export class DynamicTable {
  private names: string[] = new Array(64);
  private values: string[] = new Array(64);
  /** Slot of the newest entry; entries run backwards from it, wrapping. */
  private head = 0;
  private count = 0;
  /** Sum of entry sizes, in octets. */
  size = 0;

  constructor(public maxSize: number) {}

  get length(): number {
    return this.count;
  }

  /** Entry i (0 = newest); the caller checks i < length. */
  name(i: number): string {
    return this.names[this.slot(i)]!;
  }

  value(i: number): string {
    return this.values[this.slot(i)]!;
  }

  add(name: string, value: string): void {
    const entry = name.length + value.length + 32;
    if (entry > this.maxSize) {
      // An entry larger than the table empties it and is not added (RFC 7541 4.4).
      this.clear();
      return;
    }
    while (this.size + entry > this.maxSize) this.evict();
    if (this.count === this.names.length) this.grow();
    this.head = (this.head + 1) % this.names.length;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += entry;
  }

  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize;
    while (this.size > maxSize) this.evict();
  }

  /** Index (0 = newest) of an entry with this name and value, or of the first with this
   *  name (as -(i + 1)), or undefined. For the encoder; the table is small. */
  find(name: string, value: string): number | undefined {
    let byName: number | undefined;
    for (let i = 0; i < this.count; i++) {
      const s = this.slot(i);
      if (this.names[s] !== name) continue;
      if (this.values[s] === value) return i;
      byName ??= -(i + 1);
    }
    return byName;
  }

  private slot(i: number): number {
    const n = this.names.length;
    return (this.head - i + n) % n;
  }

  private evict(): void {
    const s = this.slot(this.count - 1);
    this.size -= this.names[s]!.length + this.values[s]!.length + 32;
    this.names[s] = "";
    this.values[s] = "";
    this.count--;
  }

  private clear(): void {
    while (this.count > 0) this.evict();
  }

  private grow(): void {
    const names: string[] = new Array(this.names.length * 2);
    const values: string[] = new Array(this.names.length * 2);
    // Oldest first, so the newest lands at count - 1.
    for (let i = this.count - 1, j = 0; i >= 0; i--, j++) {
      names[j] = this.name(i);
      values[j] = this.value(i);
    }
    this.names = names;
    this.values = values;
    this.head = this.count - 1;
  }
}
