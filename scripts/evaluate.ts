/**
 * `npm run evaluate -- --data <folder> [--model outputs/model] [--out dir] [--resamples 1000]
 *   [--threshold chosen|0.5|p]`
 *
 * External validation: runs a saved model on any class-folder dataset (e.g. another hospital's
 * X-rays) and writes the screening metrics with bootstrap confidence intervals as JSON, the
 * per-image predictions, the figures and one self-contained HTML report into --out (default
 * outputs/external/<data folder name>/), then prints the headline line.
 *
 * Class folders are matched to the model's classes by name, case-insensitively and with aliases
 * (COVID-19 = COVID = covid, NORMAL = Normal); a folder that matches no class, or a class without
 * a folder, is an error naming them. Features come from the feature cache when the same image
 * bytes were seen before, so a second run skips the backbone. Unreadable images are skipped and listed.
 *
 * Thresholds: the metrics are always computed at 0.5 (argmax) and, when the model was saved with
 * a threshold chosen on validation data, at that threshold too. --threshold picks the one the
 * headline uses (default: the saved one when there is one); a number evaluates at that cut-off instead.
 *
 * Probabilities are the calibrated ones when the model has a temperature. With the model's
 * out-of-distribution guard, the images it flags are counted and listed, and the metrics are
 * repeated without them (metrics.json "outOfDistribution"); a model without a guard says so.
 */
import * as path from 'path';
import { writeFileAtomic } from '../lib/core/atomic';
import { evaluationPaths, outputPaths } from '../lib/core/paths';
import { currentBackend } from '../lib/core/backend';
import { matchClassFolders } from '../lib/core/classes';
import { DatasetError, ModelFileError } from '../lib/core/errors';
import { scanDataset } from '../lib/data/dataset';
import { headline as headlineMetrics, screeningFigures } from '../lib/view/screeningFigures';
import { calibrationFigure } from '../lib/view/safeguardFigures';
import { RunMetrics, writePredictions, writeRunMetrics } from '../lib/evaluate/runMetrics';
import { decide } from '../lib/head/predict';
import { checkModelFolder } from '../lib/head/modelStore';
import { weightsFingerprint } from '../lib/backbone/weights';
import { engineDescription, imageFeatures, openBackbone } from '../lib/pipeline/backbone';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { openModel, withModelPreprocessing } from '../lib/pipeline/model';
import { writeEvaluationReport } from '../lib/pipeline/report';
import {
  CommandSpec,
  commonFlags,
  configFromArgs,
  displayPath,
  integerFlag,
  main,
  modelFolderFromArgs,
  note,
  printResult,
  skippedSummary,
  stringFlag,
  UsageError,
  warnIfWeightsDiffer,
} from './cli';

const spec: CommandSpec = {
  name: 'evaluate',
  summary:
    'External validation: runs a saved model on a folder with one sub-folder per class and writes metrics with 95% ' +
    'bootstrap CIs (JSON) and an HTML report.',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    {
      name: 'data',
      value: 'folder',
      required: true,
      description: 'dataset with one sub-folder per class, e.g. covid-19/ and normal/',
    },
    {
      name: 'out',
      value: 'dir',
      description:
        'where to write metrics.json, predictions.json, report.html, figures/ (default: outputs/external/<data ' +
        'folder name>)',
    },
    { name: 'resamples', value: 'n', description: 'bootstrap resamples for the confidence intervals (default 1000)' },
    {
      name: 'threshold',
      value: 'chosen|0.5|p',
      description: "headline threshold: the model's saved one (default when it has one), 0.5 (argmax) or a probability",
    },
    ...commonFlags,
  ],
};

interface ThresholdChoice {
  chosen?: { threshold: number; description: string };
  /** Which evaluation the headline shows. */
  headline: 'default' | 'chosen';
}

function chooseThresholds(
  requested: string | undefined,
  saved: number | undefined,
  modelFolder: string,
): ThresholdChoice {
  const savedChoice =
    saved === undefined
      ? undefined
      : { threshold: saved, description: 'saved with the model, chosen on validation data' };
  if (requested === undefined) return { chosen: savedChoice, headline: savedChoice ? 'chosen' : 'default' };
  if (requested === 'chosen') {
    if (!savedChoice)
      throw new ModelFileError(
        'has no saved decision threshold (classifier.json has no "threshold"); use --threshold 0.5',
        modelFolder,
      );
    return { chosen: savedChoice, headline: 'chosen' };
  }
  const value = Number(requested);
  if (!/^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(requested) || !(value >= 0 && value <= 1)) {
    throw new UsageError(`--threshold must be "chosen", 0.5 or a probability from 0 to 1, not "${requested}"`, spec);
  }
  if (value === 0.5) return { chosen: savedChoice, headline: 'default' };
  return { chosen: { threshold: value, description: 'given with --threshold' }, headline: 'chosen' };
}

/** One line: how many images the guard flags, and the headline without them. */
function outOfDistributionLine(summary: RunMetrics['outOfDistribution'], argmax: boolean): string {
  const result = summary?.result;
  if (!result) return summary?.status ?? 'guard unavailable';
  const flagged = `out-of-distribution guard (${result.method}): ${result.flagged} of ${result.evaluated} images flagged`;
  const without = result.withoutFlagged;
  if (!without) return `${flagged}; the rest lack a class, no metrics without them`;
  const at = argmax ? without.atDefaultThreshold : (without.atChosenThreshold ?? without.atDefaultThreshold);
  return `${flagged}; without them (${without.evaluated} images): ${headlineMetrics(at, 2)}`;
}

main(spec, async (args) => {
  const started = Date.now();
  const argsConfig = configFromArgs(args);
  const dataFolder = path.resolve(stringFlag(args, 'data')!);
  const modelFolder = modelFolderFromArgs(args, argsConfig);
  const resamples = integerFlag(args, spec, 'resamples', argsConfig.bootstrapResamples, 1, 1_000_000);
  const out = path.resolve(
    stringFlag(args, 'out') ?? path.join(outputPaths(argsConfig).external, path.basename(dataFolder)),
  );
  const written = evaluationPaths(out);

  // Everything that can be checked cheaply is checked before the backbone is loaded.
  const info = checkModelFolder(modelFolder);
  // The preprocessing the model was trained with (a shortcut mitigation), unless CXR_MITIGATION says otherwise.
  const config = withModelPreprocessing(argsConfig, info);
  if (info.classNames.length !== 2) {
    const classes = `${info.classNames.length} classes (${info.classNames.join(', ')})`;
    throw new ModelFileError(`has ${classes}; screening metrics need a two-class model`, modelFolder);
  }
  const thresholds = chooseThresholds(stringFlag(args, 'threshold'), info.threshold, modelFolder);
  const dataset = scanDataset(dataFolder);
  const mapping = matchClassFolders(dataset.classNames, info.classNames, dataFolder, displayPath(modelFolder));
  const files = dataset.images.map((image) => path.join(dataset.root, image.file));
  const labels = dataset.images.map((image) => mapping[image.label]);
  const pairs = dataset.classNames.map((name, index) => `${name} -> ${info.classNames[mapping[index]]}`);
  note(`${dataset.images.length} images in ${displayPath(dataFolder)}: ${pairs.join(', ')}`);

  const model = await openModel(modelFolder, config, note, info);
  const backbone = await openBackbone(config, note, modelFolder);
  const weightsWarning = warnIfWeightsDiffer(model, backbone.weights);
  let extraction;
  try {
    extraction = await imageFeatures(files, config, backbone);
  } finally {
    await backbone.engine.dispose();
  }
  for (const entry of extraction.skipped) note(`skipped ${entry.file}: ${entry.reason}`);
  if (extraction.kept.length === 0)
    throw new DatasetError(`none of the ${files.length} images could be read`, dataFolder);

  const trueLabels = extraction.kept.map((index) => labels[index]);
  const notes: string[] = [];
  const missingClass = info.classNames.find((_, index) => !trueLabels.includes(index));
  if (missingClass) {
    const undefinedMetric = missingClass === info.classNames[info.positiveClass] ? 'sensitivity' : 'specificity';
    notes.push(
      `No readable ${missingClass} images: metrics that need both classes (AUC, ${undefinedMetric}) are undefined ` +
        `(n/a).`,
    );
  }
  if (weightsWarning) notes.push(weightsWarning.replace(/^warning: /, ''));
  const relative = (file: string) => path.relative(dataFolder, file);
  const skipped = extraction.skipped.map((entry) => ({ file: relative(entry.file), reason: entry.reason }));
  if (skipped.length) notes.push(skippedSummary(skipped, true));
  const classFolders = Object.fromEntries(
    dataset.classNames.map((name, index) => [name, info.classNames[mapping[index]]]),
  );
  const run = evaluateRun({
    model,
    files: extraction.kept.map((index) => relative(files[index])),
    evaluated: { features: extraction.features, labels: trueLabels },
    kind: 'external validation',
    found: files.length,
    skipped,
    features: extraction,
    backend: currentBackend() ?? 'none',
    engine: engineDescription(backbone.engine, extraction.engines),
    chosen: thresholds.chosen,
    headline: thresholds.headline,
    bootstrap: { resamples, seed: config.seed },
    settings: {
      model: modelFolder,
      data: dataFolder,
      classFolders,
      positiveClass: info.classNames[info.positiveClass],
      bootstrapResamples: resamples,
      seed: config.seed,
      modelTrainedAt: info.trainedAt,
      weightsFingerprint: weightsFingerprint(backbone.weights),
    },
    timings: { 'features (s)': extraction.seconds },
    notes,
  });
  const { metrics, probabilities } = run;
  model.head.dispose();
  metrics.settings.headlineThreshold = `${metrics.headline.threshold} (${metrics.headline.description})`;
  metrics.timings['total (s)'] = (Date.now() - started) / 1000;
  const headline =
    thresholds.headline === 'chosen' && metrics.metrics.atChosenThreshold
      ? metrics.metrics.atChosenThreshold
      : metrics.metrics.atDefaultThreshold;

  const figures = screeningFigures(metrics.metrics, headline);
  if (metrics.calibration) figures.push(calibrationFigure(metrics.calibration, info.classNames[info.positiveClass]));
  await Promise.all(figures.map((figure) => writeFileAtomic(written.figure(figure.name), figure.png)));
  writePredictions(
    written.predictions,
    info.classNames,
    extraction.kept.map((index, row) => ({
      file: relative(files[index]),
      trueClass: info.classNames[labels[index]],
      probabilities: probabilities[row],
      predictedClass: info.classNames[decide(probabilities[row], info, metrics.headline.threshold)],
      ...(info.temperature !== undefined ? { rawProbabilities: run.rawProbabilities[row] } : {}),
      ...(run.guard ? { oodScore: run.guard[row].score, outOfDistribution: run.guard[row].outOfDistribution } : {}),
    })),
  );
  writeRunMetrics(written.metrics, metrics);
  await writeEvaluationReport(written.report, `External validation on ${path.basename(dataFolder)}`, metrics, figures);

  if (extraction.skipped.length) note(skippedSummary(extraction.skipped, false));
  const perClass = info.classNames.map((name) => `${name} ${metrics.counts.perClass[name]}`).join(', ');
  const skippedNote = extraction.skipped.length ? `; ${extraction.skipped.length} skipped` : '';
  const thresholdText =
    `${Number(headline.threshold.toFixed(4))} ` +
    `(${headline === metrics.metrics.atDefaultThreshold ? 'argmax' : headline.description})`;
  const confidence = Math.round(metrics.metrics.bootstrap.confidence * 100);
  printResult(
    `external validation on ${extraction.kept.length} images (${perClass}${skippedNote}) at threshold ` +
      `${thresholdText}: ` +
      `${headlineMetrics(headline, 2)} (${confidence}% bootstrap CIs)`,
  );
  printResult(outOfDistributionLine(metrics.outOfDistribution, headline === metrics.metrics.atDefaultThreshold));
  printResult(`wrote ${displayPath(written.report)} and ${displayPath(written.metrics)}`);
  return 0;
});
