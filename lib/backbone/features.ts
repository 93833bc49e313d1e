/**
 * Frozen-backbone features for a list of images: cached ones are reused, the rest are computed
 * (decoding overlapped with inference) and appended to the cache batch by batch, so an
 * interrupted run resumes where it stopped. Unreadable images are skipped and listed.
 */
import { absolutePath, DatasetSplit, LabelledImage, SplitName, splitNames } from '../data/dataset';
import { contentHash, FeatureCache } from './featureCache';
import { preprocessedBatches } from './featurePipeline';
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import { featureLength, FeatureEngine, FeatureSet, ProgressFactory, silentProgress } from '../core/contracts';
import type { PreprocessingSettings } from '../core/preprocessing';

export interface SkippedImage {
  file: string;
  reason: string;
}

export interface ExtractionResult {
  /** Features of the images that could be read, in input order, row-major n x 2048. */
  features: Float32Array;
  /** Indices (into the input list) of the images in `features`. */
  kept: number[];
  skipped: SkippedImage[];
  computed: number;
  reused: number;
  /** Which engine produced the features used, e.g. { onnxruntime: 2480, tfjs: 4 }. */
  engines: Record<string, number>;
  seconds: number;
}

export interface ExtractionOptions {
  engine: FeatureEngine;
  cache: FeatureCache;
  batchSize: number;
  label?: string;
  /** Draws progress (the view layer's createProgress); silent by default. */
  progress?: ProgressFactory;
  /** Stops after the current batch (besides SIGINT, see core/interrupt). */
  signal?: AbortSignal;
  /** The shortcut mitigation; the cache must be the one opened for its name (preprocessingName). */
  preprocessing?: PreprocessingSettings;
}

/**
 * The features of `files`: from the cache, or computed batch by batch and appended to it. An
 * interrupt stops it after the current batch; the batches already computed stay in the cache.
 */
export function extractFeatures(files: string[], options: ExtractionOptions): Promise<ExtractionResult> {
  return interruptible((signal) => extractAll(files, options, signal), {
    signal: options.signal,
    finished: 'feature extraction',
  });
}

async function extractAll(files: string[], options: ExtractionOptions, signal: AbortSignal): Promise<ExtractionResult> {
  const started = Date.now();
  const { engine, cache } = options;
  const hashes: (string | undefined)[] = [];
  const skipped = new Map<number, string>();
  files.forEach((file, index) => {
    try {
      hashes.push(contentHash(file));
    } catch (error) {
      hashes.push(undefined);
      skipped.set(
        index,
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message,
      );
    }
  });

  const missing = files
    .map((_, index) => index)
    .filter((index) => hashes[index] !== undefined && !cache.get(hashes[index]!));
  // The same picture may appear under two names: compute it once.
  const seen = new Set<string>();
  const toCompute = missing.filter((index) => !seen.has(hashes[index]!) && seen.add(hashes[index]!));
  const indexOfFile = new Map(toCompute.map((index) => [files[index], index]));
  const progress = (toCompute.length ? (options.progress ?? silentProgress) : silentProgress)(
    options.label ?? 'features',
    toCompute.length,
  );
  let done = 0;
  const computedHashes = new Set<string>();
  for await (const batch of preprocessedBatches(
    toCompute.map((index) => files[index]),
    { batchSize: options.batchSize, preprocessing: options.preprocessing },
  )) {
    for (const failure of batch.skipped) {
      skipped.set(indexOfFile.get(failure.file)!, failure.reason);
    }
    if (batch.count > 0) {
      const pooled = await options.engine.pooledFeatures(batch.input, batch.count);
      const records = batch.files.map((file, row) => ({
        hash: hashes[indexOfFile.get(file)!]!,
        features: pooled.subarray(row * featureLength, (row + 1) * featureLength),
      }));
      cache.add(records, engine.name);
      for (const record of records) computedHashes.add(record.hash);
    }
    done += batch.count + batch.skipped.length;
    progress.update(done, skipped.size ? `${skipped.size} skipped` : undefined);
    if (signal.aborted) {
      progress.finish('interrupted', done);
      stopIfInterrupted(
        signal,
        () =>
          `feature extraction interrupted after ${done} of ${toCompute.length} images; ` +
          `their features are kept in ${cache.filePath}`,
      );
    }
  }
  // Only the first copy of a picture was decoded: its other copies (same bytes, or the same file
  // listed twice) share its fate, so when it was unreadable they are skipped with the same reason.
  const failures = new Map(
    [...skipped].filter(([index]) => hashes[index] !== undefined).map(([index, reason]) => [hashes[index]!, reason]),
  );
  for (const index of missing) {
    if (!skipped.has(index) && !cache.get(hashes[index]!))
      skipped.set(index, failures.get(hashes[index]!) ?? 'no features were computed');
  }
  progress.finish(skipped.size ? `${skipped.size} skipped` : undefined);

  const kept = files.map((_, index) => index).filter((index) => !skipped.has(index));
  const features = new Float32Array(kept.length * featureLength);
  const engines: Record<string, number> = {};
  kept.forEach((index, row) => {
    const cached = cache.get(hashes[index]!)!;
    features.set(cached.features, row * featureLength);
    engines[cached.engine] = (engines[cached.engine] ?? 0) + 1;
  });
  return {
    features,
    kept,
    skipped: [...skipped.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, reason]) => ({ file: files[index], reason })),
    computed: kept.filter((index) => computedHashes.has(hashes[index]!)).length,
    reused: kept.filter((index) => !computedHashes.has(hashes[index]!)).length,
    engines,
    seconds: (Date.now() - started) / 1000,
  };
}

export interface SplitFeatures {
  /** The data folder the split's relative file names start from. */
  root: string;
  classNames: string[];
  sets: Record<SplitName, FeatureSet & { images: LabelledImage[] }>;
  skipped: SkippedImage[];
  computed: number;
  reused: number;
  engines: Record<string, number>;
  seconds: number;
}

/** Features of every image of a saved split, one extraction pass for all three parts. */
export async function featuresForSplit(split: DatasetSplit, options: ExtractionOptions): Promise<SplitFeatures> {
  const images = splitNames.flatMap((name) => split[name].map((image) => ({ name, image })));
  const result = await extractFeatures(
    images.map(({ image }) => absolutePath(split.root, image)),
    { label: 'backbone features', ...options },
  );
  const sets = Object.fromEntries(
    splitNames.map((name) => [
      name,
      { features: new Float32Array(0), labels: [] as number[], images: [] as LabelledImage[] },
    ]),
  ) as SplitFeatures['sets'];
  const rows: Record<SplitName, Float32Array[]> = { train: [], validation: [], test: [] };
  result.kept.forEach((index, row) => {
    const { name, image } = images[index];
    sets[name].labels.push(image.label);
    sets[name].images.push(image);
    rows[name].push(result.features.subarray(row * featureLength, (row + 1) * featureLength));
  });
  for (const name of splitNames) {
    const matrix = new Float32Array(rows[name].length * featureLength);
    rows[name].forEach((row, index) => matrix.set(row, index * featureLength));
    sets[name].features = matrix;
  }
  return {
    root: split.root,
    classNames: split.classNames,
    sets,
    skipped: result.skipped,
    computed: result.computed,
    reused: result.reused,
    engines: result.engines,
    seconds: result.seconds,
  };
}
