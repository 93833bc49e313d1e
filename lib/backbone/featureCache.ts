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
import { basePreprocessingName } from '../core/preprocessing';

/**
 * The article's preprocessing (core/preprocessing.ts bumps it when decoding changes, so old features
 * are not reused); a shortcut mitigation keys its own file (preprocessingName).
 */
export const preprocessingVersion = basePreprocessingName;

const engineCodes: EngineName[] = ['tfjs', 'onnxruntime', 'onnxruntime-int8'];

/**
 * Features of the float32 engines (tfjs, onnxruntime) agree within float32 rounding and share one
 * file; int8 features differ more (cosine about 0.99) and live in their own file, so the two never
 * mix: a cache refuses records from an engine of the other precision.
 */
export type FeaturePrecision = 'float32' | 'int8';
export function precisionOf(engine: EngineName): FeaturePrecision {
  return engine === 'onnxruntime-int8' ? 'int8' : 'float32';
}
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
  private constructor(
    private readonly records: RecordFile,
    readonly precision: FeaturePrecision,
  ) {}

  get filePath(): string {
    return this.records.filePath;
  }

  /**
   * Opens (or creates) the cache for one weights fingerprint, precision and preprocessing, in
   * `cacheDir`. Features of altered images (the shortcut audit's masked images) use their own
   * preprocessing name; int8 features their own file.
   */
  static open(
    cacheDir: string,
    weightsFingerprint: string,
    precision: FeaturePrecision = 'float32',
    preprocessing = preprocessingVersion,
  ): FeatureCache {
    if (!/^[A-Za-z0-9.+_-]+$/.test(preprocessing)) throw new Error(`bad preprocessing name "${preprocessing}"`);
    const suffix = precision === 'int8' ? '-int8' : '';
    const file = path.join(cacheDir, `features-${weightsFingerprint}-${preprocessing}${suffix}.bin`);
    return new FeatureCache(RecordFile.open(file, payloadBytes), precision);
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
    if (precisionOf(engine) !== this.precision) {
      throw new Error(
        `${engine} computes ${precisionOf(engine)} features; this cache holds ${this.precision} ones (${this.filePath})`,
      );
    }
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
