/**
 * Step 2 of the article, as notebooks and commands use it: the frozen ImageNet ResNet50 (weights,
 * feature engine, feature cache) and the pooled features of a list of images or of the saved split.
 */
import * as fs from 'fs';
import { initBackend } from '../core/backend';
import { Config, resolveFeatureBatchSize } from '../core/config';
import { outputPaths } from '../core/paths';
import { FeatureEngine } from '../core/contracts';
import { UserFacingError } from '../core/errors';
import { describePreprocessing, PreprocessingSettings, preprocessingName } from '../core/preprocessing';
import { absolutePath, loadSplit } from '../data/dataset';
import { createFeatureEngine, defaultEngine, LazyFeatureEngine } from '../backbone/engine';
import { FeatureCache, precisionOf } from '../backbone/featureCache';
import type { Int8BuildOptions } from '../backbone/onnxInt8';
import { extractFeatures, ExtractionResult, featuresForSplit, SplitFeatures } from '../backbone/features';
import { ensureWeights, weightsFingerprint, WeightsPaths } from '../backbone/weights';
import { createFinetunedEngine } from '../finetune/engine';
import { isFinetunedModel, readBlockDescription } from '../finetune/store';
import { createProgress } from '../view/progress';

export interface Backbone {
  weights: WeightsPaths;
  /** Images per backbone batch: the setting, or the backend's default ('auto'). */
  batchSize: number;
  /** Starts on first use: a run whose features are all cached never loads the backbone. */
  engine: LazyFeatureEngine;
  /** The features of config.preprocessing (its name keys the file). */
  cache: FeatureCache;
  /** config.preprocessing: every image this backbone sees goes through it. */
  preprocessing: PreprocessingSettings;
}

type Log = (line: string) => void;

/** The training images of the saved split: the int8 engine calibrates on them, never on test images. */
function trainingFiles(config: Config): string[] {
  const splitFile = outputPaths(config).split;
  if (!fs.existsSync(splitFile))
    throw new UserFacingError(
      `the int8 backbone calibrates on training images: run notebooks/01-data.ipynb first (${splitFile})`,
    );
  const split = loadSplit(splitFile);
  return split.train.map((image) => absolutePath(split.root, image));
}

/** The int8 engine's calibration settings, and the saved split's training images to calibrate on. */
export function int8BuildOptions(config: Config): Int8BuildOptions {
  return {
    method: config.calibrationMethod,
    percentile: config.calibrationPercentile,
    images: config.calibrationImages,
    seed: config.seed,
    calibrationFiles: () => trainingFiles(config),
    progress: createProgress,
  };
}

/**
 * The one way to open the backbone: weights (fetched once), a lazy engine, the feature cache.
 * The tfjs backend is initialised first: it decides the default engine, hence which cache
 * (float32 or int8 features) and the batch size. With the folder of a fine-tuned model (notebook
 * 06), the engine runs its fine-tuned block and the features are cached apart, keyed by the block's
 * sha256.
 */
export async function openBackbone(config: Config, log: Log = console.log, modelFolder?: string): Promise<Backbone> {
  const backend = await initBackend(config.backend, log);
  const weights = await ensureWeights(config.weightsDir, log);
  const batchSize = resolveFeatureBatchSize(config.featureBatchSize, backend);
  const preprocessing = config.preprocessing;
  if (modelFolder && isFinetunedModel(modelFolder)) {
    if (preprocessing.mitigation !== 'none')
      throw new UserFacingError(
        `fine-tuned models use the article's preprocessing only; this config asks for ${describePreprocessing(preprocessing)}`,
        modelFolder,
      );
    const options = { engine: config.engine, backend: config.backend, log };
    const block = readBlockDescription(modelFolder);
    const engine = new LazyFeatureEngine(() => createFinetunedEngine(weights, modelFolder, options), config.engine);
    const key = `${weightsFingerprint(weights)}-${block.block}-${block.sha256.slice(0, 12)}`;
    return { weights, batchSize, engine, cache: FeatureCache.open(config.cacheDir, key), preprocessing };
  }
  const int8 = int8BuildOptions(config);
  const options = { engine: config.engine, backend: config.backend, int8: int8, log };
  const expected = defaultEngine(backend, config.engine).engine;
  const engine = new LazyFeatureEngine(() => createFeatureEngine(weights, options), expected);
  const name = preprocessingName(preprocessing);
  const cache = FeatureCache.open(config.cacheDir, weightsFingerprint(weights), precisionOf(expected), name);
  if (preprocessing.mitigation !== 'none') log(`preprocessing: ${describePreprocessing(preprocessing)}`);
  return { weights, batchSize, engine, cache, preprocessing };
}

/** Features of the split saved by notebook 01; computes only what the cache lacks. */
export async function splitFeatures(config: Config, backbone: Backbone): Promise<SplitFeatures> {
  const split = loadSplit(outputPaths(config).split);
  return featuresForSplit(split, {
    engine: backbone.engine,
    cache: backbone.cache,
    batchSize: backbone.batchSize,
    progress: createProgress,
    preprocessing: backbone.preprocessing,
  });
}

/** Features of any image files (cached ones reused), with a progress bar. */
export function imageFeatures(
  files: string[],
  config: Config,
  backbone: Pick<Backbone, 'engine' | 'cache' | 'batchSize' | 'preprocessing'>,
  label = 'features',
): Promise<ExtractionResult> {
  const { engine, cache, batchSize, preprocessing } = backbone;
  const options = { engine: engine, cache: cache, batchSize: batchSize, preprocessing: preprocessing };
  return extractFeatures(files, { ...options, label, progress: createProgress });
}

/** The engine's description; when it never started, which engines made the cached features. */
export function engineDescription(engine: FeatureEngine, cachedBy: Record<string, number>): string {
  if (!(engine instanceof LazyFeatureEngine) || engine.started)
    return engine.choice ? `${engine.description}; ${engine.choice}` : engine.description;
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
  return (
    `warning: ${model.folder} was trained on backbone weights ${saved}, but these are ${current}; its ` +
    `predictions may be meaningless`
  );
}
