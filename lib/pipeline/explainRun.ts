/**
 * The whole explanation check in one call (npm run bench, tests), and the two steps notebook 05
 * shares with it: the figures and outputs/explanations.json from the steps' results.
 */
import { Config } from '../core/config';
import { DatasetSplit } from '../data/dataset';
import { camMethodLabels, convCamMethodNames } from '../explain/cams';
import { maskArea, centralBoxMask } from '../explain/regions';
import { saveFigure } from '../view/display';
import { energyHistogram, faithfulnessCharts } from '../view/explanationFigures';
import { camEnergyPass, CamPass, energySummary, RegionAudit, regionAccuracyAudit, scoreFeatures } from './audit';
import { Backbone, imageFeatures } from './backbone';
import {
  explanationSample,
  ExplanationSample,
  Explanations,
  FaithfulnessResult,
  measureFaithfulness,
  methodComparisonGrid,
  SanityResult,
  sanityChecks,
  writeExplanations,
} from './explain';
import type { OpenedModel } from './model';
import { absolutePath } from '../data/dataset';

export const methodLabels: Record<string, string> = { ...camMethodLabels, random: 'random map (floor)' };

/** Accuracy and AUC of the unaltered test images, from the (cached) pooled features. */
export async function wholeImageScores(config: Config, model: OpenedModel, backbone: Backbone, split: DatasetSplit) {
  const files = split.test.map((image) => absolutePath(split.root, image));
  const result = await imageFeatures(files, config, backbone, 'test features');
  return scoreFeatures(
    model,
    result.features,
    result.kept.map((index) => split.test[index].label),
  );
}

/** Saves the method grid, the deletion/insertion charts and the energy histogram; returns their paths. */
export async function saveExplanationFigures(
  config: Config,
  classNames: string[],
  pass: CamPass,
  faithfulness: FaithfulnessResult,
): Promise<Record<string, Buffer>> {
  const grid = await methodComparisonGrid(faithfulness.occlusionRecords, classNames, config.preprocessing);
  const curves = faithfulnessCharts(faithfulness.methods, methodLabels);
  const shares = Object.fromEntries(
    convCamMethodNames.map((method) => [
      method,
      pass.energy[method].map((record) => ({ label: record.label, share: record.box })),
    ]),
  );
  const histogram = energyHistogram(
    shares,
    classNames,
    methodLabels,
    maskArea(centralBoxMask(config.explain.centralBox)),
  );
  saveFigure(config, 'cam-methods-grid', grid);
  saveFigure(config, 'deletion-curves', curves.deletion);
  saveFigure(config, 'insertion-curves', curves.insertion);
  saveFigure(config, 'cam-energy-histogram', histogram);
  return { grid, deletion: curves.deletion, insertion: curves.insertion, histogram };
}

/** Everything explanations.json holds, from the steps' results. */
export function assembleExplanations(
  config: Config,
  model: OpenedModel,
  split: DatasetSplit,
  parts: {
    sample: ExplanationSample;
    pass: CamPass;
    faithfulness: FaithfulnessResult;
    sanity: SanityResult;
    whole: { accuracy: number; auc: number; n: number };
    regions: RegionAudit[];
    timings: Record<string, number>;
  },
): Explanations {
  const { sample, pass, faithfulness, sanity } = parts;
  const summary = (which: 'box' | 'lungs') =>
    Object.fromEntries(
      convCamMethodNames.map((method) => [method, energySummary(pass.energy[method], split.classNames, which)]),
    );
  return {
    generatedAt: new Date().toISOString(),
    model: {
      folder: model.folder,
      recipe: model.info.settings.recipe,
      trainedAt: model.info.trainedAt,
      split: model.info.split,
      preprocessing: model.info.preprocessing,
    },
    sample: {
      perClass: Object.fromEntries(sample.perClass.map((images, label) => [split.classNames[label], images.length])),
      occlusionImages: sample.occlusion.length,
      notes: sample.notes,
    },
    settings: config.explain,
    faithfulness: faithfulness.methods,
    mostFaithful: faithfulness.mostFaithful,
    sanity: { methods: sanity.methods, passed: sanity.passed, stages: sanity.stages, images: sanity.images },
    audit: {
      testImages: split.test.length,
      energyInsideBox: summary('box'),
      energyInsideLungs: config.explain.lungMaskDir ? summary('lungs') : undefined,
      whole: parts.whole,
      regions: parts.regions,
      notes: pass.notes,
    },
    timings: parts.timings,
    backbonePasses: faithfulness.backbonePasses,
  };
}

/** The whole check: sample, CAM pass over the test set, region audits, faithfulness, sanity, outputs. */
export async function runExplanations(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  split: DatasetSplit,
  log: (line: string) => void = console.log,
): Promise<{ explanations: Explanations; file: string }> {
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await work();
    timings[name] = (Date.now() - started) / 1000;
    return result;
  };
  const sample = explanationSample(config, split, log);
  const keep = new Set(sample.perClass.flat().map((image) => image.file));
  const whole = await timed('whole-image scores', () => wholeImageScores(config, model, backbone, split));
  const pass = await timed('CAM pass over the test set', () =>
    camEnergyPass(config, model, backbone, split, keep, log),
  );
  const regions = [
    await timed('central box audit', () => regionAccuracyAudit(config, model, backbone, split, 'central box')),
  ];
  if (config.explain.lungMaskDir)
    regions.push(
      await timed('lung mask audit', () =>
        regionAccuracyAudit(config, model, backbone, split, 'lung masks', pass.lungMasks),
      ),
    );
  const faithfulness = await timed('faithfulness', () => measureFaithfulness(config, model, backbone, sample, pass));
  const sanity = await timed('sanity checks', () =>
    sanityChecks(config, model, backbone, faithfulness.occlusionRecords),
  );
  await saveExplanationFigures(config, split.classNames, pass, faithfulness);
  const explanations = assembleExplanations(config, model, split, {
    sample,
    pass,
    faithfulness,
    sanity,
    whole,
    regions,
    timings,
  });
  return { explanations, file: writeExplanations(config, explanations) };
}
