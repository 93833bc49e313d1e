/** The occlusion map's backbone passes, cached: they depend on the image, not on the head. */
import { createHash } from 'crypto';
import { Config } from '../core/config';
import { featureLength } from '../core/contracts';
import { preprocessingName } from '../core/preprocessing';
import { contentHash, FeatureCache, precisionOf } from '../backbone/featureCache';
import { weightsFingerprint } from '../backbone/weights';
import type { Backbone } from './backbone';

/**
 * The occluded images' pooled features, cached per image file content, patch, stride and
 * preprocessing: they do not depend on the head, so a re-run (or a retrained head) skips the 169
 * backbone passes per image.
 */
export function occludedFeatureCache(config: Config, backbone: Backbone) {
  const { patch, stride } = config.explain.occlusion;
  const name = `${preprocessingName(backbone.preprocessing)}+occlusion-p${patch}-s${stride}`;
  const precision = precisionOf(backbone.engine.name);
  const cache = FeatureCache.open(config.cacheDir, weightsFingerprint(backbone.weights), precision, name);
  const key = (hash: string, index: number) => createHash('sha1').update(`${hash}:${index}`).digest('hex');
  return {
    read(file: string): Float32Array | undefined {
      const hash = contentHash(file);
      const rows: Float32Array[] = [];
      for (let index = 0; ; index++) {
        const record = cache.get(key(hash, index));
        if (!record) break;
        rows.push(record.features);
      }
      if (rows.length === 0) return undefined;
      const features = new Float32Array(rows.length * featureLength);
      rows.forEach((row, index) => features.set(row, index * featureLength));
      return features;
    },
    write(file: string, features: Float32Array): void {
      const hash = contentHash(file);
      const count = features.length / featureLength;
      const records = Array.from({ length: count }, (_, index) => ({
        hash: key(hash, index),
        features: features.slice(index * featureLength, (index + 1) * featureLength),
      }));
      cache.add(records, backbone.engine.name);
    },
  };
}
