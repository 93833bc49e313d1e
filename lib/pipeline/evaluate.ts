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
import type { SavedModelInfo } from '../head/modelStore';
import { evaluateHead, predictHead } from '../head/predict';

export interface ThresholdChoice {
  threshold: number;
  description: string;
}

/** The decision threshold chosen on validation data by config.thresholdRule (Youden's J by default). */
export function chooseValidationThreshold(
  head: tf.LayersModel,
  info: Pick<SavedModelInfo, 'positiveClass'>,
  validation: FeatureSet,
  rule: Config['thresholdRule'],
): ThresholdChoice {
  const scores = positiveColumn(predictHead(head, validation.features), info.positiveClass);
  const choice = chooseThreshold(validation.labels, scores, { ...rule, positiveClass: info.positiveClass });
  const description =
    rule.method === 'youden' ? "Youden's J on validation" : `sensitivity >= ${rule.target} on validation`;
  return { threshold: choice.threshold, description };
}

export interface EvaluationInput {
  model: { folder: string; head: tf.LayersModel; info: SavedModelInfo };
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

/** model.evaluate + model.predict + screening metrics: the whole of metrics.json. */
export function evaluateRun(input: EvaluationInput): { metrics: RunMetrics; probabilities: number[][] } {
  const started = Date.now();
  const { head, info, folder } = input.model;
  const { labels } = input.evaluated;
  const scores = evaluateHead(head, input.evaluated);
  const probabilities = predictHead(head, input.evaluated.features);
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
      weightsFingerprint: info.weightsFingerprint,
      threshold: info.threshold ?? null,
    },
    test: { loss: scores.loss, accuracy: scores.accuracy, correct: Math.round(scores.accuracy * labels.length) },
    headline: { threshold: headline.threshold, description: headline.description },
    metrics: screening,
    timings: { ...input.timings, 'evaluation (s)': (Date.now() - started) / 1000 },
    notes: input.notes ?? [],
  };
  return { metrics, probabilities };
}
