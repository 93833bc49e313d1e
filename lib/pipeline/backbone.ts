/**
 * Step 2 of the article, as notebooks and commands use it: the frozen ImageNet ResNet50 (weights,
 * feature engine, feature cache) and the pooled features of a list of images or of the saved split.
 */
import { Config, outputPaths } from '../core/config';
import { FeatureEngine } from '../core/contracts';
import { loadSplit } from '../data/dataset';
import { createFeatureEngine, LazyFeatureEngine } from '../backbone/engine';
import { FeatureCache } from '../backbone/featureCache';
import { extractFeatures, ExtractionResult, featuresForSplit, SplitFeatures } from '../backbone/features';
import { ensureWeights, weightsFingerprint, WeightsPaths } from '../backbone/weights';
import { createFinetunedEngine } from '../finetune/engine';
import { isFinetunedModel, readBlockDescription } from '../finetune/store';
import { createProgress } from '../view/progress';

export interface Backbone {
  weights: WeightsPaths;
  /** Starts on first use: a run whose features are all cached never loads the backbone. */
  engine: LazyFeatureEngine;
  cache: FeatureCache;
}

type Log = (line: string) => void;

/**
 * The one way to open the backbone: weights (fetched once), a lazy engine, the feature cache.
 * With the folder of a fine-tuned model (notebook 06), the engine runs its fine-tuned block and the
 * features are cached apart, keyed by the block's sha256.
 */
export async function openBackbone(config: Config, log: Log = console.log, modelFolder?: string): Promise<Backbone> {
  const weights = await ensureWeights(config.weightsDir, log);
  const options = { engine: config.engine, backend: config.backend, log };
  if (modelFolder && isFinetunedModel(modelFolder)) {
    const block = readBlockDescription(modelFolder);
    const engine = new LazyFeatureEngine(() => createFinetunedEngine(weights, modelFolder, options), config.engine);
    const key = `${weightsFingerprint(weights)}-${block.block}-${block.sha256.slice(0, 12)}`;
    return { weights, engine, cache: FeatureCache.open(config.cacheDir, key) };
  }
  const engine = new LazyFeatureEngine(() => createFeatureEngine(weights, options), config.engine);
  const cache = FeatureCache.open(config.cacheDir, weightsFingerprint(weights));
  return { weights, engine, cache };
}

/** Features of the split saved by notebook 01; computes only what the cache lacks. */
export async function splitFeatures(config: Config, backbone: Backbone): Promise<SplitFeatures> {
  const split = loadSplit(outputPaths(config).split);
  return featuresForSplit(split, {
    engine: backbone.engine,
    cache: backbone.cache,
    batchSize: config.featureBatchSize,
    progress: createProgress,
  });
}

/** Features of any image files (cached ones reused), with a progress bar. */
export function imageFeatures(
  files: string[],
  config: Config,
  backbone: Pick<Backbone, 'engine' | 'cache'>,
  label = 'features',
): Promise<ExtractionResult> {
  const options = { engine: backbone.engine, cache: backbone.cache, batchSize: config.featureBatchSize };
  return extractFeatures(files, { ...options, label, progress: createProgress });
}

/** The engine's description; when it never started, which engines made the cached features. */
export function engineDescription(engine: FeatureEngine, cachedBy: Record<string, number>): string {
  if (!(engine instanceof LazyFeatureEngine) || engine.started) return engine.description;
  const sources = Object.entries(cachedBy).map(([name, count]) => `${name} (${count})`);
  return `${engine.description}; cached by ${sources.join(', ')}`;
}

/**
 * A warning when a model was trained on features of other backbone weights (its outputs would
 * mean nothing), or undefined when they match.
 */
export function weightsMismatch(
  model: { folder: string; info: { weightsFingerprint?: string } },
  weights: WeightsPaths,
): string | undefined {
  const saved = model.info.weightsFingerprint;
  if (!saved) return undefined;
  let current: string;
  try {
    current = weightsFingerprint(weights);
  } catch {
    return undefined;
  }
  if (saved === current) return undefined;
  return `warning: ${model.folder} was trained on backbone weights ${saved}, but these are ${current}; its predictions may be meaningless`;
}
