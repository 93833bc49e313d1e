/**
 * metrics.json: one layout for every evaluation the project writes, the test split (notebook 04)
 * and external data (`npm run evaluate`). `version` changes when a field changes meaning.
 */
import * as fs from 'fs';
import { writeJsonAtomicSync } from '../core/atomic';
import { ModelFileError } from '../core/errors';
import type { CalibrationBin } from './calibration';
import type { ConfidenceInterval } from './bootstrap';
import type { ScreeningEvaluation, ThresholdEvaluation } from './screening';

export const runMetricsVersion = 1;

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface RunMetrics {
  version: typeof runMetricsVersion;
  kind: 'test split' | 'external validation';
  generatedAt: string;
  /** What produced the numbers: model folder, data folder, seeds, training settings... */
  settings: Record<string, unknown>;
  counts: {
    found: number;
    evaluated: number;
    skipped: number;
    perClass: Record<string, number>;
    /** Test-split runs: the sizes of the three parts. */
    split?: { train: number; validation: number; test: number };
  };
  skipped: SkippedFile[];
  /** How the pooled features were obtained: computed now, reused from the cache, by which engines. */
  features: { computed: number; reused: number; engines: Record<string, number> };
  backend: string;
  engine: string;
  model: {
    folder: string;
    recipe: string | null;
    trainedAt: string;
    /** Digest of the split.json the model was trained on (lib/core/provenance); absent in older runs. */
    split?: string;
    weightsFingerprint: string;
    /** Threshold on the positive class chosen on validation data, null when none. */
    threshold: number | null;
  };
  /** Keras' model.evaluate on the evaluated images: categorical cross-entropy and accuracy (argmax). */
  test: { loss: number; accuracy: number; correct: number };
  /** Which threshold the headline numbers use. */
  headline: { threshold: number; description: string };
  metrics: ScreeningEvaluation;
  /** Seconds, by step. */
  timings: Record<string, number>;
  notes: string[];
  /** Which probabilities `metrics` uses; absent in runs before calibration existed (raw). */
  probabilities?: 'raw' | 'calibrated';
  /** Temperature scaling (fitted on validation data): calibration of the evaluated images before and after. */
  calibration?: CalibrationSummary;
  /** The out-of-distribution guard on the evaluated images; absent in runs before it existed. */
  outOfDistribution?: OutOfDistributionSummary;
}

export interface CalibrationSide {
  expectedCalibrationError: ConfidenceInterval;
  brierScore: ConfidenceInterval;
  bins: CalibrationBin[];
}

export interface CalibrationSummary {
  temperature: number;
  before: CalibrationSide;
  after: CalibrationSide;
}

/** The guard's verdicts on the evaluated images (one interface, no union: tslab compiles non-strict). */
export interface OutOfDistributionSummary {
  available: boolean;
  /** The guard in use, or "guard unavailable: ..." for a model saved without one. */
  status: string;
  /** Null when the guard is unavailable. */
  result: OutOfDistributionResult | null;
}

export interface OutOfDistributionResult {
  method: string;
  threshold: number;
  percentile: number;
  flagged: number;
  evaluated: number;
  flaggedFiles?: string[];
  /** Metrics of the images the guard lets through; null when they lack a class. */
  withoutFlagged: {
    evaluated: number;
    auc: number;
    atDefaultThreshold: ThresholdEvaluation;
    atChosenThreshold: ThresholdEvaluation | null;
  } | null;
}

export function writeRunMetrics(file: string, metrics: RunMetrics): void {
  writeJsonAtomicSync(file, metrics);
}

/** Reads metrics.json; a file from an older layout is named as such. */
export function readRunMetrics(file: string): RunMetrics {
  if (!fs.existsSync(file)) throw new ModelFileError('no metrics yet; run notebooks/04-evaluate.ipynb first', file);
  let metrics: RunMetrics;
  try {
    metrics = JSON.parse(fs.readFileSync(file, 'utf8')) as RunMetrics;
  } catch (error) {
    throw new ModelFileError(`cannot be read (${(error as Error).message})`, file);
  }
  if (metrics?.version !== runMetricsVersion) {
    const found = JSON.stringify(metrics?.version);
    throw new ModelFileError(`has layout version ${found}, not ${runMetricsVersion}; evaluate again`, file);
  }
  return metrics;
}

export interface PredictionRow {
  file: string;
  trueClass: string;
  probabilities: number[];
  predictedClass: string;
  /** The head's softmax before temperature scaling, when `probabilities` are calibrated. */
  rawProbabilities?: number[];
  /** The out-of-distribution guard's score and flag, when the model has a guard. */
  oodScore?: number;
  outOfDistribution?: boolean;
}

/** predictions.json: every evaluated image with its true class, probabilities and predicted class. */
export function writePredictions(file: string, classNames: string[], predictions: PredictionRow[]): void {
  writeJsonAtomicSync(file, { classNames, predictions });
}
