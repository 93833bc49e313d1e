/**
 * Step 5 beyond the article's grid: which CAM method explains this model faithfully, and does it
 * pass the sanity check? A fixed sample of test images per class; deletion/insertion curves through
 * the feature engine; maps after cascading randomisation of the head and from a head trained on
 * shuffled labels. The math is in lib/explain, the drawing in lib/view.
 */
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { Config } from '../core/config';
import { outputPaths } from '../core/paths';
import { convMapShape, imageSize } from '../core/contracts';
import { createRandom, shuffled } from '../core/random';
import { DatasetSplit, LabelledImage } from '../data/dataset';
import { loadImageRgb } from '../data/images';
import { PreprocessingSettings } from '../core/preprocessing';
import {
  camMethodLabels,
  CamMethodName,
  camMethodNames,
  camsFromConvMap,
  convCamMethodNames,
  finishCam,
} from '../explain/cams';
import { overlayHeatmap } from '../explain/gradcam';
import {
  areaUnderCurve,
  faithfulnessCurves,
  headClassProbabilities,
  occlusionFromDrops,
  occlusionMap,
} from '../explain/perturbation';
import {
  bootstrapMean,
  cascadingRandomisation,
  MeanWithInterval,
  RandomisationStage,
  spearman,
  ssim,
  withHeadWeights,
} from '../explain/sanity';
import { trainHeads } from '../head/ensemble';
import { GridRow, imageGrid } from '../view/imageGrid';
import { createProgress } from '../view/progress';
import type { CamPass, KeptImage, RegionAudit } from './audit';
import { Backbone, splitFeatures } from './backbone';
import type { OpenedModel } from './model';
import { occludedFeatureCache } from './occlusionCache';

type Log = (line: string) => void;
/** The methods scored for faithfulness, with a random map as the floor to beat. */
export type ScoredMap = CamMethodName | 'random';

export interface ExplanationSample {
  /** Test images per class, in a fixed seeded order. */
  perClass: LabelledImage[][];
  /** The first occlusionPerClass of each class: occlusion map and sanity check. */
  occlusion: LabelledImage[];
  notes: string[];
}

/** The fixed sample: a seeded shuffle of each class's test images, clamped to what there is (said). */
export function explanationSample(config: Config, split: DatasetSplit, log: Log = console.log): ExplanationSample {
  const { samplePerClass, occlusionPerClass } = config.explain;
  const notes: string[] = [];
  const perClass = split.classNames.map((name, label) => {
    const images = shuffled(
      split.test.filter((image) => image.label === label),
      createRandom(config.seed + 17),
    );
    if (images.length < samplePerClass)
      notes.push(
        `explain.samplePerClass ${samplePerClass} is more than the ${images.length} ${name} test images: all ${images.length} are used`,
      );
    return images.slice(0, samplePerClass);
  });
  notes.forEach((note) => log(note));
  return { perClass, occlusion: perClass.flatMap((images) => images.slice(0, occlusionPerClass)), notes };
}

/** What the faithfulness step keeps per image of the occlusion subset, for the sanity check. */
interface OcclusionRecord {
  kept: KeptImage;
  heatmap: Float32Array;
  /** Pooled features of the whole image and of every occluded copy (the backbone is frozen). */
  pooled: Float32Array;
  occludedFeatures: Float32Array;
  positions: { x: number; y: number }[];
}

export interface MethodFaithfulness {
  /** Area under the class-probability curve while the most relevant pixels turn grey: lower is better. */
  deletion: MeanWithInterval;
  /** Area while they are restored on a grey image: higher is better. */
  insertion: MeanWithInterval;
  /** Insertion minus deletion per image: higher is better. */
  difference: MeanWithInterval;
  meanCurves: { fractions: number[]; deletion: number[]; insertion: number[] };
}

export interface FaithfulnessResult {
  methods: Partial<Record<ScoredMap, MethodFaithfulness>>;
  occlusionRecords: OcclusionRecord[];
  /** The method with the highest mean insertion-minus-deletion area. */
  mostFaithful: CamMethodName;
  backbonePasses: number;
  seconds: number;
}

/** Deletion and insertion curves of every method (and a random map) on the sample. */
async function measureFaithfulnessWork(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  sample: ExplanationSample,
  pass: CamPass,
): Promise<FaithfulnessResult> {
  const started = Date.now();
  const { engine } = backbone;
  const inner = config.explain.fractions;
  const grey = await engine.pooledFeatures(new Float32Array(imageSize * imageSize * 3), 1);
  const occlusionFiles = new Set(sample.occlusion.map((image) => image.file));
  const occlusionCache = occludedFeatureCache(config, backbone);
  const areas = new Map<ScoredMap, { deletion: number[]; insertion: number[]; curves: number[][][] }>();
  const occlusionRecords: OcclusionRecord[] = [];
  const images = sample.perClass.flat().filter((image) => pass.kept.has(image.file));
  const progress = createProgress('faithfulness', images.length);
  let passes = 1;
  for (const [index, image] of images.entries()) {
    stopIfInterrupted(undefined, () => `faithfulness interrupted after ${index} of ${images.length} images`);
    const kept = pass.kept.get(image.file)!;
    const label = image.label;
    const maps = new Map<ScoredMap, Float32Array>(convCamMethodNames.map((method) => [method, kept.heatmaps[method]]));
    if (occlusionFiles.has(image.file)) {
      const cached = occlusionCache.read(kept.file);
      const settings = config.explain.occlusion;
      const occlusion = await occlusionMap(kept.input, engine, model.head, label, settings, 32, cached);
      if (!cached) occlusionCache.write(kept.file, occlusion.occludedFeatures);
      const heatmap = finishCam(occlusion.raw, imageSize, imageSize, imageSize);
      maps.set('occlusion', heatmap);
      occlusionRecords.push({ kept, heatmap, pooled: occlusion.basePooled, ...occlusion });
      passes += (cached ? 0 : occlusion.positions.length) + 1;
    }
    const random = createRandom(config.seed + index);
    maps.set(
      'random',
      Float32Array.from({ length: imageSize * imageSize }, () => random()),
    );
    const curves = await faithfulnessCurves(kept.input, [...maps.values()], {
      engine,
      head: model.head,
      classIndex: label,
      innerFractions: inner,
      wholeProbability: kept.probabilities[label],
      greyProbability: headClassProbabilities(model.head, grey, label)[0],
      seed: config.seed + index,
      batchSize: 32,
    });
    passes += curves.length * inner.length * 2;
    [...maps.keys()].forEach((name, row) => {
      const entry = areas.get(name) ?? { deletion: [], insertion: [], curves: [] };
      const curve = curves[row];
      entry.deletion.push(areaUnderCurve(curve.fractions, curve.deletion));
      entry.insertion.push(areaUnderCurve(curve.fractions, curve.insertion));
      entry.curves.push([curve.deletion, curve.insertion]);
      areas.set(name, entry);
    });
    progress.update(index + 1);
  }
  progress.finish();
  const fractions = [0, ...inner, 1];
  const resamples = config.bootstrapResamples;
  const methods: FaithfulnessResult['methods'] = {};
  for (const [name, entry] of areas) {
    const mean = (which: 0 | 1) =>
      fractions.map((_, at) => entry.curves.reduce((sum, curve) => sum + curve[which][at], 0) / entry.curves.length);
    methods[name] = {
      deletion: bootstrapMean(entry.deletion, resamples, config.seed),
      insertion: bootstrapMean(entry.insertion, resamples, config.seed),
      difference: bootstrapMean(
        entry.insertion.map((value, i) => value - entry.deletion[i]),
        resamples,
        config.seed,
      ),
      meanCurves: { fractions, deletion: mean(0), insertion: mean(1) },
    };
  }
  const ranked = camMethodNames
    .filter((name) => methods[name])
    .sort((a, b) => methods[b]!.difference.mean - methods[a]!.difference.mean);
  return {
    methods,
    occlusionRecords,
    mostFaithful: ranked[0],
    backbonePasses: passes,
    seconds: (Date.now() - started) / 1000,
  };
}

export interface SanityResult {
  /** Per method, per stage ("predictions", ..., "shuffled labels"): mean Spearman and SSIM with the trained maps. */
  methods: Partial<Record<CamMethodName, Record<string, { spearman: number; ssim: number }>>>;
  /** Per method: true when its maps change enough under full randomisation and shuffled labels. */
  passed: Partial<Record<CamMethodName, boolean>>;
  stages: string[];
  images: number;
  seconds: number;
}

/**
 * A model of the saved model's shape (one head, or an ensemble of the same size) trained on the
 * training features with shuffled labels; its weights line up with the saved model's.
 */
async function shuffledLabelHead(config: Config, model: OpenedModel, backbone: Backbone): Promise<tf.Tensor[]> {
  const sets = (await splitFeatures(config, backbone)).sets;
  const settings = { ...config, ...(model.info.settings as Partial<Config>), seed: config.seed + 101 };
  const labels = shuffled(sets.train.labels, createRandom(config.seed + 202));
  const train = { features: sets.train.features, labels };
  const { head } = await trainHeads(
    settings,
    { train, validation: sets.validation },
    {
      classCount: model.info.classNames.length,
    },
  );
  const weights = head.getWeights().map((tensor) => tensor.clone());
  head.dispose();
  return weights;
}

/** Adebayo et al.'s model-randomisation and data-randomisation tests on the occlusion subset. */
async function sanityChecksWork(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  records: OcclusionRecord[],
): Promise<SanityResult> {
  const started = Date.now();
  const stages: RandomisationStage[] = cascadingRandomisation(model.head, config.seed + 303);
  stages.push({ label: 'shuffled labels', weights: await shuffledLabelHead(config, model, backbone) });
  const sums: SanityResult['methods'] = {};
  const progress = createProgress('sanity checks', stages.length * records.length);
  let done = 0;
  try {
    for (const stage of stages) {
      stopIfInterrupted(
        undefined,
        () => `sanity checks interrupted after ${done} of ${stages.length * records.length} maps`,
      );
      await withHeadWeights(model.head, stage.weights, () => {
        for (const record of records) {
          const label = record.kept.image.label;
          const convMap = tf.tensor4d(record.kept.convMap, [1, ...convMapShape]);
          let maps: Partial<Record<CamMethodName, Float32Array>>;
          try {
            maps = { ...camsFromConvMap(convMap, model.head, label).heatmaps };
          } finally {
            convMap.dispose();
          }
          const base = headClassProbabilities(model.head, record.pooled, label)[0];
          const drops = headClassProbabilities(model.head, record.occludedFeatures, label).map((p) => base - p);
          const raw = occlusionFromDrops(drops, record.positions, config.explain.occlusion.patch);
          maps.occlusion = finishCam(raw, imageSize, imageSize, imageSize);
          for (const method of camMethodNames) {
            const trained = method === 'occlusion' ? record.heatmap : record.kept.heatmaps[method];
            const entry = (sums[method] ??= {});
            const total = (entry[stage.label] ??= { spearman: 0, ssim: 0 });
            total.spearman += spearman(trained, maps[method]!) / records.length;
            total.ssim += ssim(trained, maps[method]!, imageSize) / records.length;
          }
          progress.update(++done);
        }
      });
    }
  } finally {
    stages.forEach((stage) => tf.dispose(stage.weights));
  }
  progress.finish();
  const fullyRandom = stages[stages.length - 2].label;
  const passed = Object.fromEntries(
    camMethodNames
      .filter((method) => sums[method])
      .map((method) => [
        method,
        [fullyRandom, 'shuffled labels'].every(
          (stage) => sums[method]![stage].spearman < config.explain.sanityThreshold,
        ),
      ]),
  );
  return {
    methods: sums,
    passed,
    stages: stages.map((stage) => stage.label),
    images: records.length,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The same test images in rows, one column per method: the image, then each method's overlay. */
export async function methodComparisonGrid(
  records: OcclusionRecord[],
  classNames: string[],
  preprocessing?: PreprocessingSettings,
  perClass = 2,
): Promise<Buffer> {
  const rows: GridRow[] = [];
  for (const label of classNames.keys()) {
    for (const record of records.filter((r) => r.kept.image.label === label).slice(0, perClass)) {
      const picture = await loadImageRgb(record.kept.file, imageSize, preprocessing);
      const probability = record.kept.probabilities[label].toFixed(3);
      const cells = [
        { rgb: picture.rgb, width: imageSize, height: imageSize, caption: `P(${classNames[label]}) ${probability}` },
      ];
      for (const method of camMethodNames) {
        const heatmap = method === 'occlusion' ? record.heatmap : record.kept.heatmaps[method];
        const rgb = overlayHeatmap(picture.rgb, heatmap, imageSize);
        cells.push({ rgb, width: imageSize, height: imageSize, caption: camMethodLabels[method] });
      }
      rows.push({ label: `${classNames[label]}: ${record.kept.image.file.split('/').pop()}`, images: cells });
    }
  }
  return imageGrid({ title: 'The same test images explained by each method (true class)', rows, cellSize: 160 });
}

export interface Explanations {
  generatedAt: string;
  /** trainedAt and split: which saved model these explanations are of (lib/core/provenance). */
  model: { folder: string; recipe?: unknown; trainedAt?: string; split?: string; preprocessing?: string };
  sample: { perClass: Record<string, number>; occlusionImages: number; notes: string[] };
  settings: Config['explain'];
  faithfulness: FaithfulnessResult['methods'];
  mostFaithful: string;
  sanity: Omit<SanityResult, 'seconds'>;
  audit: {
    testImages: number;
    energyInsideBox: Record<string, Record<string, { mean: number; n: number }>>;
    energyInsideLungs?: Record<string, Record<string, { mean: number; n: number }>>;
    whole: { accuracy: number; auc: number; n: number };
    regions: RegionAudit[];
    notes: string[];
  };
  timings: Record<string, number>;
  backbonePasses: number;
}

/** outputs/explanations.json (curves rounded to 4 digits). */
export function writeExplanations(config: Config, explanations: Explanations): string {
  const file = outputPaths(config).explanations;
  writeJsonAtomicSync(
    file,
    JSON.parse(
      JSON.stringify(explanations, (_, value) => (typeof value === 'number' ? Number(value.toPrecision(6)) : value)),
    ),
  );
  return file;
}

/** measureFaithfulness, stopped by Kernel > Interrupt or Ctrl-C (see core/interrupt). */
export const measureFaithfulness = (...args: Parameters<typeof measureFaithfulnessWork>) =>
  interruptible(() => measureFaithfulnessWork(...args), { finished: 'faithfulness' });

/** sanityChecks, stopped by Kernel > Interrupt or Ctrl-C (see core/interrupt). */
export const sanityChecks = (...args: Parameters<typeof sanityChecksWork>) =>
  interruptible(() => sanityChecksWork(...args), { finished: 'the sanity checks' });
