/**
 * Real backbone features for the training and extraction tests, computed once per mocha run:
 * one feature engine (ONNX Runtime, or tfjs where it cannot load) shared by every file that asks,
 * disposed by a root hook after the last test.
 */
import { createFeatureEngine } from '../lib/backbone/engine';
import { FeatureCache } from '../lib/backbone/featureCache';
import { extractFeatures } from '../lib/backbone/features';
import { realWeights, someXrays, temporaryFolder, tfReady } from './helpers';
import type { FeatureEngine, FeatureSet } from '../lib/core/contracts';

let engine: Promise<FeatureEngine> | undefined;

export function sharedEngine(): Promise<FeatureEngine> {
  engine ??= (async () => {
    await tfReady();
    return createFeatureEngine(await realWeights(), { log: () => undefined });
  })();
  return engine;
}

after(async () => {
  if (engine) await (await engine).dispose();
});

const featureSets = new Map<number, Promise<FeatureSet & { files: string[] }>>();

/** Pooled features of someXrays(perClass) (COVID first, then NORMAL), from a fresh cache in a temporary folder. */
export function realFeatureSet(perClass: number): Promise<FeatureSet & { files: string[] }> {
  let set = featureSets.get(perClass);
  if (!set) {
    set = (async () => {
      const xrays = someXrays(perClass);
      const files = xrays.map((xray) => xray.file);
      const cache = FeatureCache.open(temporaryFolder('real-features'), 'test');
      const result = await extractFeatures(files, { engine: await sharedEngine(), cache, batchSize: 8 });
      if (result.skipped.length > 0)
        throw new Error(`real X-rays could not be read: ${JSON.stringify(result.skipped)}`);
      return { features: result.features, labels: xrays.map((xray) => xray.label), files };
    })();
    featureSets.set(perClass, set);
  }
  return set;
}

/** Rows `indices` of a feature set, as a new set. */
export function pick(set: FeatureSet, indices: number[]): FeatureSet {
  const features = new Float32Array(indices.length * 2048);
  indices.forEach((index, row) => features.set(set.features.subarray(index * 2048, (index + 1) * 2048), row * 2048));
  return { features, labels: indices.map((index) => set.labels[index]) };
}

/**
 * 12 real X-rays per class split for head training: 8 + 8 for training, 4 + 4 for validation
 * (realFeatureSet(12): indices 0-11 COVID, 12-23 NORMAL).
 */
export async function realTrainValidation(): Promise<{ train: FeatureSet; validation: FeatureSet }> {
  const all = await realFeatureSet(12);
  return {
    train: pick(
      all,
      [...Array(8).keys()].flatMap((i) => [i, 12 + i]),
    ),
    validation: pick(all, [8, 9, 10, 11, 20, 21, 22, 23]),
  };
}
