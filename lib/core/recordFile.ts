/**
 * An append-only file of fixed-size records keyed by a 20-byte content hash (sha1), the storage
 * behind the feature cache and the leakage guard's signature cache. Appending batch by batch
 * (one write, flushed) means an interrupted run keeps all it finished; on open, a partly written
 * last record is cut off. Small records are held in memory; large ones (`onDemand`, the 200 KB
 * block inputs of fine-tuning) stay on disk and are read when asked for, so that half a gigabyte
 * of cache does not sit in the process's memory.
 */
import * as fs from 'fs';
import * as path from 'path';

export const hashBytes = 20;

export class RecordFile {
  private readonly payloads = new Map<string, Buffer>();
  /** onDemand: the byte offset of each hash's payload in the file instead of the payload. */
  private readonly offsets = new Map<string, number>();

  private constructor(
    readonly filePath: string,
    readonly payloadBytes: number,
    readonly onDemand: boolean,
  ) {}

  static open(filePath: string, payloadBytes: number, options: { onDemand?: boolean } = {}): RecordFile {
    const file = new RecordFile(filePath, payloadBytes, options.onDemand ?? false);
    if (file.onDemand) file.loadOffsets();
    else file.load();
    return file;
  }

  get recordBytes(): number {
    return hashBytes + this.payloadBytes;
  }

  private load(): void {
    fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
    if (!fs.existsSync(this.filePath)) return;
    const data = fs.readFileSync(this.filePath);
    const complete = Math.floor(data.length / this.recordBytes);
    // A torn write (the process stopped mid-record): keep the complete records only.
    if (complete * this.recordBytes !== data.length) fs.truncateSync(this.filePath, complete * this.recordBytes);
    for (let record = 0; record < complete; record++) {
      const offset = record * this.recordBytes;
      const hash = data.subarray(offset, offset + hashBytes).toString('hex');
      this.payloads.set(hash, Buffer.from(data.subarray(offset + hashBytes, offset + this.recordBytes)));
    }
  }

  /** onDemand: reads only the hashes (20 bytes per record), noting where each payload lies. */
  private loadOffsets(): void {
    fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
    if (!fs.existsSync(this.filePath)) return;
    const length = fs.statSync(this.filePath).size;
    const complete = Math.floor(length / this.recordBytes);
    if (complete * this.recordBytes !== length) fs.truncateSync(this.filePath, complete * this.recordBytes);
    const handle = fs.openSync(this.filePath, 'r');
    try {
      const hash = Buffer.alloc(hashBytes);
      for (let record = 0; record < complete; record++) {
        const offset = record * this.recordBytes;
        fs.readSync(handle, hash, 0, hashBytes, offset);
        this.offsets.set(hash.toString('hex'), offset + hashBytes);
      }
    } finally {
      fs.closeSync(handle);
    }
  }

  get size(): number {
    return this.onDemand ? this.offsets.size : this.payloads.size;
  }

  has(hash: string): boolean {
    return this.onDemand ? this.offsets.has(hash) : this.payloads.has(hash);
  }

  /** The payload stored for a sha1 (hex), or undefined. A later record for the same hash wins. */
  get(hash: string): Buffer | undefined {
    if (!this.onDemand) return this.payloads.get(hash);
    const offset = this.offsets.get(hash);
    if (offset === undefined) return undefined;
    const payload = Buffer.alloc(this.payloadBytes);
    const handle = fs.openSync(this.filePath, 'r');
    try {
      if (fs.readSync(handle, payload, 0, this.payloadBytes, offset) !== this.payloadBytes)
        throw new Error(`${this.filePath}: a record was cut short while in use`);
    } finally {
      fs.closeSync(handle);
    }
    return payload;
  }

  /** Appends records in one write, flushed before returning; kept in memory only once written. */
  add(records: { hash: string; payload: Buffer }[]): void {
    if (records.length === 0) return;
    for (const { hash, payload } of records) {
      if (!/^[0-9a-f]{40}$/.test(hash)) throw new Error(`expected a sha1 in hex, got "${hash}"`);
      if (payload.length !== this.payloadBytes)
        throw new Error(`expected a ${this.payloadBytes}-byte record, got ${payload.length}`);
    }
    const buffer = Buffer.concat(records.flatMap(({ hash, payload }) => [Buffer.from(hash, 'hex'), payload]));
    const handle = fs.openSync(this.filePath, 'a');
    let start: number;
    try {
      start = fs.fstatSync(handle).size;
      fs.writeSync(handle, buffer);
      fs.fsyncSync(handle);
    } finally {
      fs.closeSync(handle);
    }
    records.forEach(({ hash, payload }, index) => {
      if (this.onDemand) this.offsets.set(hash, start + index * this.recordBytes + hashBytes);
      else this.payloads.set(hash, Buffer.from(payload));
    });
  }
}
