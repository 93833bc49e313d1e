/**
 * The safeguards of a saved model, fitted after training (notebook 03) and used by every
 * prediction: the out-of-distribution guard on the pooled features (fitted on the training images,
 * threshold from the validation images) and the temperature that calibrates the probabilities
 * (fitted on the validation images). Also the per-image screening that predict and evaluate share.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../core/config';
import type { FeatureSet } from '../core/contracts';
import { bootstrapConfidenceIntervals, calibration, evaluateScreening, positiveColumn } from '../evaluate';
import type { CalibrationSummary, OutOfDistributionSummary } from '../evaluate/runMetrics';
import { calibratedProbabilities, fitTemperatureOn } from '../head/calibration';
import { SavedGuard } from '../head/guardStore';
import { loadGuard, saveGuard, SavedModelInfo, updateModelInfo } from '../head/modelStore';
import { fitGuard, Guard, GuardMethod, guardScores } from '../head/ood';

/** What a prediction says when the model has no guard (saved before guards existed). */
const guardUnavailable = 'guard unavailable: this model was saved without an out-of-distribution guard';

export interface Safeguards {
  guard: Guard;
  temperature: number;
  /** Validation cross-entropy at T = 1 and at the fitted T. */
  validationLoss: { before: number; after: number };
}

/**
 * Fits the guard (config.guardMethod, threshold at config.guardPercentile of the validation scores)
 * and the temperature, and saves both with the model in `folder`.
 */
export function fitSafeguards(
  config: Pick<Config, 'guardMethod' | 'guardPercentile'>,
  model: { folder: string; head: tf.LayersModel },
  sets: { train: FeatureSet; validation: FeatureSet },
): Safeguards {
  const guard = fitGuard(sets.train.features, sets.validation.features, {
    method: config.guardMethod,
    percentile: config.guardPercentile,
  });
  const fitted = fitTemperatureOn(model.head, sets.validation);
  saveGuard(model.folder, guard);
  updateModelInfo(model.folder, { temperature: fitted.temperature });
  return {
    guard,
    temperature: fitted.temperature,
    validationLoss: { before: fitted.lossBefore, after: fitted.lossAfter },
  };
}

/** The model's guard, or undefined with the reason, for commands that must not crash on older models. */
export function openGuard(folder: string, info: SavedModelInfo): { guard?: SavedGuard; status: string } {
  const guard = loadGuard(folder, info);
  if (!guard) return { status: guardUnavailable };
  return { guard, status: `${guard.method} guard, threshold ${guard.threshold.toPrecision(4)}` };
}

export interface Screened {
  raw: number[][];
  /** Temperature-scaled when the model has a temperature, else the raw ones. */
  probabilities: number[][];
  /** Guard score and flag per row, or undefined without a guard. */
  guard?: { score: number; outOfDistribution: boolean }[];
}

/** Probabilities (raw and calibrated) and the guard's verdict for feature rows. */
export function screenFeatures(
  model: { head: tf.LayersModel; info: Pick<SavedModelInfo, 'temperature'>; guard?: Guard },
  features: Float32Array,
): Screened {
  const { raw, calibrated } = calibratedProbabilities(model.head, features, model.info.temperature);
  const guard = model.guard
    ? guardScores(model.guard, features).map((score) => ({ score, outOfDistribution: score > model.guard!.threshold }))
    : undefined;
  return { raw, probabilities: calibrated, guard };
}

/** ECE and Brier score before and after temperature scaling on labelled images, with bootstrap CIs. */
export function calibrationSummary(
  labels: number[],
  screened: Pick<Screened, 'raw' | 'probabilities'>,
  temperature: number,
  options: { positiveClass: number; resamples: number; seed: number },
): CalibrationSummary {
  const side = (rows: number[][]) => {
    const scores = positiveColumn(rows, options.positiveClass);
    const intervals = bootstrapConfidenceIntervals(labels, scores, options).intervals;
    return {
      expectedCalibrationError: intervals.expectedCalibrationError,
      brierScore: intervals.brierScore,
      bins: calibration(labels, scores, 10, { positiveClass: options.positiveClass }).bins,
    };
  };
  return { temperature, before: side(screened.raw), after: side(screened.probabilities) };
}

/** How many images the guard flags, and the metrics without them. */
export function outOfDistributionSummary(
  labels: number[],
  screened: Screened,
  guard: Guard | undefined,
  options: {
    positiveClass: number;
    classNames: string[];
    chosen?: { threshold: number; description: string };
    resamples: number;
    seed: number;
    files?: string[];
  },
): OutOfDistributionSummary {
  if (!guard || !screened.guard) return { available: false, status: guardUnavailable, result: null };
  const flags = screened.guard.map((verdict) => verdict.outOfDistribution);
  const kept = flags.map((flag, index) => (flag ? -1 : index)).filter((index) => index >= 0);
  const keptLabels = kept.map((index) => labels[index]);
  const bothClasses = new Set(keptLabels).size === 2;
  const without = bothClasses
    ? evaluateScreening(
        keptLabels,
        kept.map((index) => screened.probabilities[index][options.positiveClass]),
        {
          positiveClass: options.positiveClass,
          classNames: options.classNames,
          chosenThreshold: options.chosen,
          bootstrap: { resamples: options.resamples, seed: options.seed },
        },
      )
    : undefined;
  const status = `${guard.method} guard, threshold ${guard.threshold.toPrecision(4)}`;
  const result = {
    method: guard.method as GuardMethod,
    threshold: guard.threshold,
    percentile: guard.percentile,
    flagged: flags.filter(Boolean).length,
    evaluated: labels.length,
    ...(options.files ? { flaggedFiles: options.files.filter((_, index) => flags[index]) } : {}),
    withoutFlagged: without
      ? {
          evaluated: kept.length,
          auc: without.auc,
          atDefaultThreshold: without.atDefaultThreshold,
          atChosenThreshold: without.atChosenThreshold,
        }
      : null,
  };
  return { available: true, status, result };
}
