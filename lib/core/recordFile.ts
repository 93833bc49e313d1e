/**
 * An append-only file of fixed-size records keyed by a 20-byte content hash (sha1), the storage
 * behind the feature cache and the leakage guard's signature cache. Appending batch by batch
 * (one write, flushed) means an interrupted run keeps all it finished; on open, a partly written
 * last record is cut off.
 */
import * as fs from 'fs';
import * as path from 'path';

export const hashBytes = 20;

export class RecordFile {
  private readonly payloads = new Map<string, Buffer>();

  private constructor(
    readonly filePath: string,
    readonly payloadBytes: number,
  ) {}

  static open(filePath: string, payloadBytes: number): RecordFile {
    const file = new RecordFile(filePath, payloadBytes);
    file.load();
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

  get size(): number {
    return this.payloads.size;
  }

  /** The payload stored for a sha1 (hex), or undefined. A later record for the same hash wins. */
  get(hash: string): Buffer | undefined {
    return this.payloads.get(hash);
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
    try {
      fs.writeSync(handle, buffer);
      fs.fsyncSync(handle);
    } finally {
      fs.closeSync(handle);
    }
    for (const { hash, payload } of records) this.payloads.set(hash, Buffer.from(payload));
  }
}
