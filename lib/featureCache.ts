/**
 * On-disk cache of the frozen backbone's pooled features, so the heavy step runs once.
 *
 * One append-only file per (weights, preprocessing) pair; each record is the sha1 of the image
 * file's bytes, the engine that computed it, and the 2048 floats. Appending record by record means
 * an interrupted run keeps everything it finished: on open, a partly written last record is cut off.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { featureLength } from './backbone';
import type { EngineName } from './config';

/** Bumped when image decoding or preprocessing changes, so old features are not reused. */
export const preprocessingVersion = 'keras-nearest-caffe-v1';

const hashBytes = 20;
const engineCodes: EngineName[] = ['tfjs', 'onnxruntime'];
const headerBytes = hashBytes + 4; // hash, engine code, 3 bytes padding (keeps floats 4-aligned)
export const recordBytes = headerBytes + featureLength * 4;

export interface CachedFeatures {
  features: Float32Array;
  engine: EngineName;
}

export function contentHash(filePath: string): string {
  return createHash('sha1').update(fs.readFileSync(filePath)).digest('hex');
}

export class FeatureCache {
  private readonly entries = new Map<string, CachedFeatures>();

  private constructor(readonly filePath: string) {}

  /** Opens (or creates) the cache for one weights fingerprint, in `cacheDir`. */
  static open(cacheDir: string, weightsFingerprint: string): FeatureCache {
    const cache = new FeatureCache(path.join(cacheDir, `features-${weightsFingerprint}-${preprocessingVersion}.bin`));
    cache.load();
    return cache;
  }

  private load(): void {
    fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
    if (!fs.existsSync(this.filePath)) return;
    const data = fs.readFileSync(this.filePath);
    const complete = Math.floor(data.length / recordBytes);
    if (complete * recordBytes !== data.length) fs.truncateSync(this.filePath, complete * recordBytes); // torn write from an interrupted run
    for (let record = 0; record < complete; record++) {
      const offset = record * recordBytes;
      const hash = data.subarray(offset, offset + hashBytes).toString('hex');
      const engine = engineCodes[data[offset + hashBytes]] ?? 'tfjs';
      const features = new Float32Array(featureLength);
      features.set(new Float32Array(data.buffer.slice(data.byteOffset + offset + headerBytes, data.byteOffset + offset + recordBytes)));
      this.entries.set(hash, { features, engine });
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(hash: string): CachedFeatures | undefined {
    return this.entries.get(hash);
  }

  /** Appends finished features; each call is one write, flushed before returning. */
  add(records: { hash: string; features: Float32Array }[], engine: EngineName): void {
    if (records.length === 0) return;
    // Checked before anything is kept, so memory and file always hold the same records.
    for (const { features } of records) {
      if (features.length !== featureLength) throw new Error(`expected ${featureLength} features, got ${features.length}`);
    }
    const buffer = Buffer.alloc(records.length * recordBytes);
    records.forEach(({ hash, features }, index) => {
      const offset = index * recordBytes;
      Buffer.from(hash, 'hex').copy(buffer, offset);
      buffer[offset + hashBytes] = engineCodes.indexOf(engine);
      Buffer.from(features.buffer, features.byteOffset, features.byteLength).copy(buffer, offset + headerBytes);
    });
    const handle = fs.openSync(this.filePath, 'a');
    try {
      fs.writeSync(handle, buffer);
      fs.fsyncSync(handle);
    } finally {
      fs.closeSync(handle);
    }
    for (const { hash, features } of records) this.entries.set(hash, { features: features.slice(), engine });
  }
}
