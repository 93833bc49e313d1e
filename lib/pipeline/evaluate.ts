/**
 * Step 4 of the article, shared by notebook 04 (the test split) and `npm run evaluate` (any
 * class-folder data set): model.evaluate, model.predict, screening metrics with bootstrap CIs,
 * all gathered into one RunMetrics (metrics.json).
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../core/config';
import type { FeatureSet } from '../core/contracts';
import type { ExtractionResult } from '../backbone/features';
import { positiveColumn } from '../evaluate/confusion';
import { evaluateScreening } from '../evaluate/screening';
import { chooseThreshold } from '../evaluate/threshold';
import { RunMetrics, runMetricsVersion, SkippedFile } from '../evaluate/runMetrics';
import { calibratedProbabilities } from '../head/calibration';
import type { SavedGuard } from '../head/guardStore';
import type { SavedModelInfo } from '../head/modelStore';
import { evaluateHead } from '../head/predict';
import { calibrationSummary, outOfDistributionSummary, screenFeatures } from './safeguards';

export interface ThresholdChoice {
  threshold: number;
  description: string;
}

/**
 * The decision threshold chosen on validation data by config.thresholdRule (Youden's J by default),
 * on the calibrated probabilities when the model has a temperature (as predictions report them).
 */
export function chooseValidationThreshold(
  head: tf.LayersModel,
  info: Pick<SavedModelInfo, 'positiveClass' | 'temperature'>,
  validation: FeatureSet,
  rule: Config['thresholdRule'],
): ThresholdChoice {
  const probabilities = calibratedProbabilities(head, validation.features, info.temperature).calibrated;
  const scores = positiveColumn(probabilities, info.positiveClass);
  const choice = chooseThreshold(validation.labels, scores, { ...rule, positiveClass: info.positiveClass });
  const description =
    rule.method === 'youden' ? "Youden's J on validation" : `sensitivity >= ${rule.target} on validation`;
  return { threshold: choice.threshold, description };
}

export interface EvaluationInput {
  model: { folder: string; head: tf.LayersModel; info: SavedModelInfo; guard?: SavedGuard };
  /** The evaluated images' files, to list the ones the guard flags. */
  files?: string[];
  /** The evaluated images' features and true labels (in the model's class indices). */
  evaluated: FeatureSet;
  kind: RunMetrics['kind'];
  /** Images found before decoding (evaluated + skipped). */
  found: number;
  skipped: SkippedFile[];
  features: Pick<ExtractionResult, 'computed' | 'reused' | 'engines'>;
  backend: string;
  engine: string;
  /** Threshold evaluated beside 0.5 (argmax), and whether the headline uses it. */
  chosen?: ThresholdChoice;
  headline: 'default' | 'chosen';
  bootstrap: { resamples: number; seed: number };
  settings: Record<string, unknown>;
  split?: { train: number; validation: number; test: number };
  timings?: Record<string, number>;
  notes?: string[];
}

/**
 * model.evaluate + model.predict + screening metrics: the whole of metrics.json. The metrics use
 * the calibrated probabilities when the model has a temperature; model.evaluate stays on the raw
 * softmax, as the article's loss. With a guard, the flagged images are counted and the metrics
 * repeated without them.
 */
export function evaluateRun(input: EvaluationInput): {
  metrics: RunMetrics;
  probabilities: number[][];
  rawProbabilities: number[][];
  guard?: { score: number; outOfDistribution: boolean }[];
} {
  const started = Date.now();
  const { head, info, folder } = input.model;
  const { labels } = input.evaluated;
  const scores = evaluateHead(head, input.evaluated);
  const screened = screenFeatures(input.model, input.evaluated.features);
  const probabilities = screened.probabilities;
  const screening = evaluateScreening(labels, positiveColumn(probabilities, info.positiveClass), {
    positiveClass: info.positiveClass,
    classNames: info.classNames,
    chosenThreshold: input.chosen,
    bootstrap: input.bootstrap,
  });
  const headline =
    input.headline === 'chosen' && screening.atChosenThreshold
      ? screening.atChosenThreshold
      : screening.atDefaultThreshold;
  const perClass = Object.fromEntries(
    info.classNames.map((name, index) => [name, labels.filter((label) => label === index).length]),
  );
  const metrics: RunMetrics = {
    version: runMetricsVersion,
    kind: input.kind,
    generatedAt: new Date().toISOString(),
    settings: input.settings,
    counts: {
      found: input.found,
      evaluated: labels.length,
      skipped: input.skipped.length,
      perClass,
      ...(input.split ? { split: input.split } : {}),
    },
    skipped: input.skipped,
    features: { computed: input.features.computed, reused: input.features.reused, engines: input.features.engines },
    backend: input.backend,
    engine: input.engine,
    model: {
      folder,
      recipe: typeof info.settings?.recipe === 'string' ? info.settings.recipe : null,
      trainedAt: info.trainedAt,
      ...(info.split ? { split: info.split } : {}),
      weightsFingerprint: info.weightsFingerprint,
      threshold: info.threshold ?? null,
    },
    test: { loss: scores.loss, accuracy: scores.accuracy, correct: Math.round(scores.accuracy * labels.length) },
    headline: { threshold: headline.threshold, description: headline.description },
    metrics: screening,
    timings: { ...input.timings, 'evaluation (s)': (Date.now() - started) / 1000 },
    notes: input.notes ?? [],
    probabilities: info.temperature === undefined ? 'raw' : 'calibrated',
    outOfDistribution: outOfDistributionSummary(labels, screened, input.model.guard, {
      positiveClass: info.positiveClass,
      classNames: info.classNames,
      chosen: input.chosen,
      ...input.bootstrap,
      files: input.files,
    }),
  };
  if (info.temperature !== undefined) {
    const options = { positiveClass: info.positiveClass, ...input.bootstrap };
    metrics.calibration = calibrationSummary(labels, screened, info.temperature, options);
  }
  metrics.timings['evaluation (s)'] = (Date.now() - started) / 1000;
  return { metrics, probabilities, rawProbabilities: screened.raw, guard: screened.guard };
}
