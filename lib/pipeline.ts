/**
 * The steps that several notebooks and commands share: opening the weights and the feature
 * engine, and getting the features of a saved split (from the cache when possible).
 */
import * as fs from 'fs';
import { Config, outputPaths } from './config';
import { loadSplit } from './data';
import { createFeatureEngine, FeatureEngine, LazyFeatureEngine } from './engine';
import { FeatureCache } from './featureCache';
import { featuresForSplit, SplitFeatures } from './features';
import { ensureWeights, weightsFingerprint, WeightsPaths } from './weights';

export interface Backbone {
  weights: WeightsPaths;
  engine: FeatureEngine;
  cache: FeatureCache;
}

/** The engine starts on first use, so a notebook whose features are all cached never loads the backbone. */
export async function openBackbone(config: Config, log: (line: string) => void = console.log): Promise<Backbone> {
  const weights = await ensureWeights(config.weightsDir, log);
  const engine = new LazyFeatureEngine(() => createFeatureEngine(weights, { engine: config.engine, backend: config.backend, log }), config.engine);
  const cache = FeatureCache.open(config.cacheDir, weightsFingerprint(weights));
  return { weights, engine, cache };
}

/** Features of the split saved by notebook 01; computes only what the cache lacks. */
export async function splitFeatures(config: Config, backbone: Backbone): Promise<SplitFeatures> {
  const split = loadSplit(outputPaths(config).split);
  return featuresForSplit(split, { engine: backbone.engine, cache: backbone.cache, batchSize: config.featureBatchSize });
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
