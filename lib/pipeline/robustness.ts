/**
 * A result on one split is one draw: the recipe re-run on other seeded splits of the same images.
 * Features come from the cache (they are keyed by image content, so a new split needs no backbone
 * work); duplicate groups found by notebook 01's leakage guard are kept in one split as there.
 * Each split trains heads with init seeds s, s+1, ..., and scores single heads and their ensembles.
 */
import * as fs from 'fs';
import { writeJsonAtomicSync } from '../core/atomic';
import { Config } from '../core/config';
import { interruptible, withInterruptDetail } from '../core/interrupt';
import { outputPaths } from '../core/paths';
import { FeatureSet } from '../core/contracts';
import { DatasetSplit, LabelledImage, splitCounts, SplitName, splitNames } from '../data/dataset';
import { DuplicateGroup } from '../data/duplicates';
import { resolveCrossSplitDuplicates } from '../data/crossSplit';
import { absolutePath } from '../data/dataset';
import { featuresForSplit } from '../backbone/features';
import { trainOneHead } from '../head/ensemble';
import { predictHead } from '../head/predict';
import { Backbone } from './backbone';
import { loadDataset, splitByConfig } from './split';
import { Scores, scoreProbabilities } from './study';
import { createProgress } from '../view/progress';

export interface SplitRun {
  splitSeed: number;
  counts: Record<SplitName, number>;
  /** Init seeds of the heads trained on this split. */
  seeds: number[];
  /** By ensemble size (1 = the head with init seed = split seed). */
  results: Record<string, { validation: Scores; test: Scores }>;
  epochs: number[];
  seconds: number;
}

export interface Robustness {
  recipe: string;
  ensembleSizes: number[];
  splits: SplitRun[];
}

/** Mean and sample standard deviation. */
function meanSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd };
}

function duplicateGroups(config: Config): DuplicateGroup[] {
  const file = outputPaths(config).leakage;
  if (!fs.existsSync(file)) return [];
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { groups?: DuplicateGroup[] }).groups ?? [];
}

/** Features of the split made with seed splitSeed (the config's subset and fractions). */
export async function featuresForSplitSeed(
  config: Config,
  backbone: Pick<Backbone, 'engine' | 'cache' | 'batchSize' | 'preprocessing'>,
  splitSeed: number,
): Promise<{
  sets: Record<SplitName, FeatureSet>;
  counts: Record<SplitName, number>;
  classNames: string[];
  split: DatasetSplit;
}> {
  const split = splitByConfig(loadDataset(config), { ...config, seed: splitSeed }, () => undefined);
  const parts = Object.fromEntries(splitNames.map((name) => [name, split[name]])) as Record<SplitName, LabelledImage[]>;
  const resolved = resolveCrossSplitDuplicates(parts, duplicateGroups(config), {
    keyOf: (image) => absolutePath(split.root, image),
  });
  const guarded = { ...split, ...resolved.splits };
  const features = await featuresForSplit(guarded, {
    engine: backbone.engine,
    cache: backbone.cache,
    batchSize: backbone.batchSize,
    preprocessing: backbone.preprocessing,
  });
  return { sets: features.sets, counts: splitCounts(guarded), classNames: features.classNames, split: guarded };
}

/**
 * The config's recipe over split seeds; for each split, max(ensembleSizes) heads with init seeds
 * splitSeed.. (single heads and ensembles of their first k). Saved to outputs/robustness.json
 * after each split; splits already there (same recipe and sizes) are reused.
 */
export async function robustnessOverSplits(
  config: Config,
  backbone: Pick<Backbone, 'engine' | 'cache' | 'batchSize' | 'preprocessing'>,
  splitSeeds: number[],
  options: { ensembleSizes?: number[]; positiveClass?: number; onSplit?: (run: SplitRun) => void } = {},
): Promise<Robustness> {
  const ensembleSizes = options.ensembleSizes ?? [1, config.ensembleSize];
  const sizes = [...new Set(ensembleSizes)].sort((a, b) => a - b);
  const file = outputPaths(config).robustness;
  const recipe = JSON.stringify({ ...config, ensembleSize: undefined, seed: undefined, dataDir: config.dataDir });
  let saved: Robustness | undefined;
  if (fs.existsSync(file)) saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Robustness;
  const reusable = saved && saved.recipe === recipe && JSON.stringify(saved.ensembleSizes) === JSON.stringify(sizes);
  const robustness: Robustness = { recipe, ensembleSizes: sizes, splits: [] };
  const positiveClass = options.positiveClass ?? 0;
  const headCount = sizes[sizes.length - 1];
  const progress = createProgress('splits', splitSeeds.length * headCount);
  const splitLoop = async (signal: AbortSignal) => {
    for (const [index, splitSeed] of splitSeeds.entries()) {
      const earlier = reusable ? saved!.splits.find((run) => run.splitSeed === splitSeed) : undefined;
      if (earlier) {
        robustness.splits.push(earlier);
        options.onSplit?.(earlier);
        continue;
      }
      const started = Date.now();
      const { sets, counts } = await featuresForSplitSeed(config, backbone, splitSeed);
      const seeds = Array.from({ length: headCount }, (_, k) => splitSeed + k);
      const probabilities: { validation: number[]; test: number[] }[] = [];
      const epochs: number[] = [];
      for (const [k, seed] of seeds.entries()) {
        const { head, result } = await trainOneHead({ ...config, ensembleSize: 1 }, seed, sets, {
          hooks: { signal: signal },
        });
        try {
          const positive = (set: FeatureSet) => predictHead(head, set.features).map((row) => row[positiveClass]);
          probabilities.push({ validation: positive(sets.validation), test: positive(sets.test) });
          epochs.push(result.history.length);
        } finally {
          head.dispose();
        }
        progress.update(index * headCount + k + 1, `split seed ${splitSeed}, head ${k + 1}`);
      }
      const average = (k: number, part: 'validation' | 'test') =>
        probabilities[0][part].map((_, i) => probabilities.slice(0, k).reduce((sum, p) => sum + p[part][i], 0) / k);
      const results = Object.fromEntries(
        sizes.map((k) => [
          String(k),
          {
            validation: scoreProbabilities(average(k, 'validation'), sets.validation.labels, positiveClass),
            test: scoreProbabilities(average(k, 'test'), sets.test.labels, positiveClass),
          },
        ]),
      );
      const run: SplitRun = { splitSeed, counts, seeds, results, epochs, seconds: (Date.now() - started) / 1000 };
      robustness.splits.push(run);
      writeJsonAtomicSync(file, robustness);
      options.onSplit?.(run);
    }
  };
  await withInterruptDetail(
    () => interruptible(splitLoop, { finished: 'the split check' }),
    () => `; the ${robustness.splits.length} finished splits are saved in ${file}`,
  );
  progress.finish();
  writeJsonAtomicSync(file, robustness);
  return robustness;
}

/** Mean ± sd over the splits, per ensemble size: validation loss, test accuracy, loss and AUC. */
export function summarizeRobustness(robustness: Robustness) {
  return robustness.ensembleSizes.map((size) => {
    const pick = (f: (r: { validation: Scores; test: Scores }) => number) =>
      meanSd(robustness.splits.map((run) => f(run.results[String(size)])));
    return {
      ensembleSize: size,
      splits: robustness.splits.length,
      validationLoss: pick((r) => r.validation.loss),
      testAccuracy: pick((r) => r.test.accuracy),
      testLoss: pick((r) => r.test.loss),
      testAuc: pick((r) => r.test.auc),
    };
  });
}
