/**
 * `npm run evaluate -- --data <folder> [--model outputs/model] [--out dir] [--resamples 1000] [--threshold chosen|0.5|p]`
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
 */
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../lib/atomic';
import { currentBackend } from '../lib/backend';
import { headline as headlineMetrics, screeningFigures } from '../lib/evaluation';
import { scanDataset } from '../lib/data';
import { DatasetError, ModelFileError, UserFacingError } from '../lib/errors';
import { FeatureCache } from '../lib/featureCache';
import { extractFeatures } from '../lib/features';
import { createFeatureEngine, LazyFeatureEngine } from '../lib/engine';
import { evaluateScreening } from '../lib/metrics';
import { writeReport } from '../lib/report';
import { predictHead } from '../lib/train';
import { ensureWeights, weightsFingerprint } from '../lib/weights';
import {
  checkWeightsMatch,
  CommandSpec,
  commonFlags,
  configFromArgs,
  displayPath,
  integerFlag,
  main,
  matchClassFolders,
  modelFolderFromArgs,
  note,
  openModel,
  printResult,
  readCheckedModelInfo,
  skippedSummary,
  stringFlag,
  UsageError,
} from './cli';

const spec: CommandSpec = {
  name: 'evaluate',
  summary:
    'External validation: runs a saved model on a folder with one sub-folder per class and writes metrics with 95% bootstrap CIs (JSON) and an HTML report.',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    { name: 'data', value: 'folder', required: true, description: 'dataset with one sub-folder per class, e.g. covid-19/ and normal/' },
    { name: 'out', value: 'dir', description: 'where to write metrics.json, predictions.json, report.html, figures/ (default: outputs/external/<data folder name>)' },
    { name: 'resamples', value: 'n', description: 'bootstrap resamples for the confidence intervals (default 1000)' },
    { name: 'threshold', value: 'chosen|0.5|p', description: "headline threshold: the model's saved one (default when it has one), 0.5 (argmax) or a probability" },
    ...commonFlags,
  ],
};

interface ThresholdChoice {
  chosen?: { threshold: number; description: string };
  /** Which evaluation the headline shows. */
  headline: 'default' | 'chosen';
}

function chooseThresholds(requested: string | undefined, saved: number | undefined, modelFolder: string): ThresholdChoice {
  const savedChoice = saved === undefined ? undefined : { threshold: saved, description: 'saved with the model, chosen on validation data' };
  if (requested === undefined) return { chosen: savedChoice, headline: savedChoice ? 'chosen' : 'default' };
  if (requested === 'chosen') {
    if (!savedChoice) throw new ModelFileError('has no saved decision threshold (classifier.json has no "threshold"); use --threshold 0.5', modelFolder);
    return { chosen: savedChoice, headline: 'chosen' };
  }
  const value = Number(requested);
  if (!/^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(requested) || !(value >= 0 && value <= 1)) {
    throw new UsageError(`--threshold must be "chosen", 0.5 or a probability from 0 to 1, not "${requested}"`, spec);
  }
  if (value === 0.5) return { chosen: savedChoice, headline: 'default' };
  return { chosen: { threshold: value, description: 'given with --threshold' }, headline: 'chosen' };
}


main(spec, async (args) => {
  const started = Date.now();
  const config = configFromArgs(args);
  const dataFolder = path.resolve(stringFlag(args, 'data')!);
  const modelFolder = modelFolderFromArgs(args, config);
  const resamples = integerFlag(args, spec, 'resamples', config.bootstrapResamples, 1, 1_000_000);
  const out = path.resolve(stringFlag(args, 'out') ?? path.join(config.outputsDir, 'external', path.basename(dataFolder)));

  // Everything that can be checked cheaply is checked before the backbone is loaded.
  const info = readCheckedModelInfo(modelFolder);
  if (info.classNames.length !== 2) {
    throw new ModelFileError(`has ${info.classNames.length} classes (${info.classNames.join(', ')}); screening metrics need a two-class model`, modelFolder);
  }
  const thresholds = chooseThresholds(stringFlag(args, 'threshold'), info.threshold, modelFolder);
  const dataset = scanDataset(dataFolder);
  const mapping = matchClassFolders(dataset.classNames, info.classNames, dataFolder, modelFolder);
  const files = dataset.images.map((image) => path.join(dataset.root, image.file));
  const labels = dataset.images.map((image) => mapping[image.label]);
  note(`${dataset.images.length} images in ${displayPath(dataFolder)}: ${dataset.classNames.map((name, index) => `${name} -> ${info.classNames[mapping[index]]}`).join(', ')}`);

  const model = await openModel(modelFolder, config, info);
  const weights = await ensureWeights(config.weightsDir, note);
  const weightsWarning = checkWeightsMatch(model, weights);
  const cache = FeatureCache.open(config.cacheDir, weightsFingerprint(weights));
  const engine = new LazyFeatureEngine(() => createFeatureEngine(weights, { engine: config.engine, backend: config.backend, log: note }), config.engine ?? 'onnxruntime');
  let extraction;
  try {
    extraction = await extractFeatures(files, { engine, cache, batchSize: config.featureBatchSize, label: 'features' });
  } finally {
    await engine.dispose();
  }
  const featureSeconds = extraction.seconds;
  for (const entry of extraction.skipped) note(`skipped ${entry.file}: ${entry.reason}`);
  if (extraction.kept.length === 0) throw new DatasetError(`none of the ${files.length} images could be read`, dataFolder);

  const predictionStarted = Date.now();
  const probabilities = predictHead(model.head, extraction.features);
  model.head.dispose();
  const trueLabels = extraction.kept.map((index) => labels[index]);
  const positiveProbabilities = probabilities.map((row) => row[info.positiveClass]);
  const predictionSeconds = (Date.now() - predictionStarted) / 1000;

  const metricsStarted = Date.now();
  const metrics = evaluateScreening(trueLabels, positiveProbabilities, {
    positiveClass: info.positiveClass,
    classNames: info.classNames,
    chosenThreshold: thresholds.chosen,
    bootstrap: { resamples, seed: config.seed },
  });
  const headline = thresholds.headline === 'chosen' && metrics.atChosenThreshold ? metrics.atChosenThreshold : metrics.atDefaultThreshold;
  const metricsSeconds = (Date.now() - metricsStarted) / 1000;

  const perClass = Object.fromEntries(info.classNames.map((name, index) => [name, trueLabels.filter((label) => label === index).length]));
  const notes: string[] = [];
  const missingClass = info.classNames.find((name) => perClass[name] === 0);
  if (missingClass) notes.push(`No readable ${missingClass} images: metrics that need both classes (AUC, ${missingClass === info.classNames[info.positiveClass] ? 'sensitivity' : 'specificity'}) are undefined (n/a).`);
  if (weightsWarning) notes.push(weightsWarning.replace(/^warning: /, ''));
  if (extraction.skipped.length) {
    notes.push(skippedSummary(extraction.skipped.map((entry) => ({ ...entry, file: path.relative(dataFolder, entry.file) })), true));
  }
  const engineDescription = engine.started ? engine.description : `${engine.description}; cached by ${Object.entries(extraction.engines).map(([name, count]) => `${name} (${count})`).join(', ')}`;
  const classFolders = Object.fromEntries(dataset.classNames.map((name, index) => [name, info.classNames[mapping[index]]]));
  const settings = {
    model: modelFolder,
    data: dataFolder,
    classFolders,
    positiveClass: info.classNames[info.positiveClass],
    headlineThreshold: `${headline.threshold} (${headline.description})`,
    bootstrapResamples: resamples,
    seed: config.seed,
    modelTrainedAt: info.trainedAt,
    weightsFingerprint: weightsFingerprint(weights),
  };
  const figures = screeningFigures(metrics, headline);
  const timings = { features: featureSeconds, prediction: predictionSeconds, metrics: metricsSeconds };

  await Promise.all(figures.map((figure) => writeFileAtomic(path.join(out, 'figures', `${figure.name}.png`), figure.png)));
  await writeJsonAtomic(path.join(out, 'predictions.json'), {
    classNames: info.classNames,
    predictions: extraction.kept.map((index, row) => ({ file: path.relative(dataFolder, files[index]), trueClass: info.classNames[labels[index]], probabilities: probabilities[row] })),
  });
  await writeJsonAtomic(path.join(out, 'metrics.json'), {
    kind: 'external validation',
    generatedAt: new Date().toISOString(),
    settings,
    counts: { found: files.length, evaluated: extraction.kept.length, skipped: extraction.skipped.length, perClass },
    skipped: extraction.skipped.map((entry) => ({ file: path.relative(dataFolder, entry.file), reason: entry.reason })),
    features: { computed: extraction.computed, reused: extraction.reused, engines: extraction.engines },
    engine: engineDescription,
    backend: currentBackend() ?? 'none',
    headline: { threshold: headline.threshold, description: headline.description },
    metrics,
    timings: { ...timings, total: (Date.now() - started) / 1000 },
  });
  await writeReport(path.join(out, 'report.html'), {
    title: `External validation on ${path.basename(dataFolder)}`,
    generatedAt: new Date().toISOString(),
    settings,
    dataCounts: { ...Object.fromEntries(dataset.classNames.map((name, index) => [`${name} (${info.classNames[mapping[index]]})`, labels.filter((label) => label === mapping[index]).length])), evaluated: extraction.kept.length, skipped: extraction.skipped.length },
    backend: currentBackend() ?? 'none',
    engine: engineDescription,
    timings: { ...timings, total: (Date.now() - started) / 1000 },
    metrics,
    figures,
    notes,
  });

  if (extraction.skipped.length) note(skippedSummary(extraction.skipped, false));
  printResult(
    `external validation on ${extraction.kept.length} images (${info.classNames.map((name) => `${name} ${perClass[name]}`).join(', ')}${extraction.skipped.length ? `; ${extraction.skipped.length} skipped` : ''})` +
      ` at threshold ${Number(headline.threshold.toFixed(4))} (${headline === metrics.atDefaultThreshold ? 'argmax' : headline.description}): ` +
      `${headlineMetrics(headline, 2)} (${Math.round(metrics.bootstrap.confidence * 100)}% bootstrap CIs)`,
  );
  printResult(`wrote ${displayPath(path.join(out, 'report.html'))} and ${displayPath(path.join(out, 'metrics.json'))}`);
  return 0;
});
