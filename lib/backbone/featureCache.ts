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
import type { EngineName } from '../core/config';
import { hashBytes, RecordFile } from '../core/recordFile';
import { featureLength } from '../core/contracts';

/** Bumped when image decoding or preprocessing changes, so old features are not reused. */
export const preprocessingVersion = 'keras-nearest-caffe-v1';

const engineCodes: EngineName[] = ['tfjs', 'onnxruntime'];
/** Engine code, 3 bytes padding (keeps the floats 4-aligned in the file), then the features. */
const payloadHeaderBytes = 4;
const payloadBytes = payloadHeaderBytes + featureLength * 4;
export const recordBytes = hashBytes + payloadBytes;

export interface CachedFeatures {
  features: Float32Array;
  engine: EngineName;
}

export function contentHash(filePath: string): string {
  return createHash('sha1').update(fs.readFileSync(filePath)).digest('hex');
}

export class FeatureCache {
  private constructor(private readonly records: RecordFile) {}

  get filePath(): string {
    return this.records.filePath;
  }

  /**
   * Opens (or creates) the cache for one weights fingerprint and one preprocessing, in `cacheDir`.
   * Features of altered images (the shortcut audit's masked images) use their own preprocessing name.
   */
  static open(cacheDir: string, weightsFingerprint: string, preprocessing = preprocessingVersion): FeatureCache {
    if (!/^[A-Za-z0-9.+_-]+$/.test(preprocessing)) throw new Error(`bad preprocessing name "${preprocessing}"`);
    return new FeatureCache(
      RecordFile.open(path.join(cacheDir, `features-${weightsFingerprint}-${preprocessing}.bin`), payloadBytes),
    );
  }

  get size(): number {
    return this.records.size;
  }

  get(hash: string): CachedFeatures | undefined {
    const payload = this.records.get(hash);
    if (!payload) return undefined;
    const features = new Float32Array(featureLength);
    features.set(
      new Float32Array(
        payload.buffer.slice(payload.byteOffset + payloadHeaderBytes, payload.byteOffset + payloadBytes),
      ),
    );
    return { features, engine: engineCodes[payload[0]] ?? 'tfjs' };
  }

  /** Appends finished features; each call is one write, flushed before returning. */
  add(records: { hash: string; features: Float32Array }[], engine: EngineName): void {
    // Checked before anything is kept, so memory and file always hold the same records.
    for (const { features } of records) {
      if (features.length !== featureLength)
        throw new Error(`expected ${featureLength} features, got ${features.length}`);
    }
    this.records.add(
      records.map(({ hash, features }) => {
        const payload = Buffer.alloc(payloadBytes);
        payload[0] = engineCodes.indexOf(engine);
        Buffer.from(features.buffer, features.byteOffset, features.byteLength).copy(payload, payloadHeaderBytes);
        return { hash, payload };
      }),
    );
  }
}
