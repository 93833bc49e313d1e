/** Everything about one screening test set in one JSON-serialisable object. */
import { UserFacingError } from '../core/errors';
import { BootstrapMetricName, bootstrapConfidenceIntervals, ConfidenceInterval } from './bootstrap';
import { CalibrationResult, calibration } from './calibration';
import { BinaryMetrics, binaryMetrics, confusionMatrix, predictLabels } from './confusion';
import { PrecisionRecallPoint, precisionRecallCurve, rankingScores, RocPoint, rocCurve } from './ranking';
import { classTotals, PositiveClassOption, prepare, unitWeights } from './sample';

export interface ScreeningOptions extends PositiveClassOption {
  /** Names by class index (default ['COVID', 'NORMAL']). */
  classNames?: string[];
  /** A threshold chosen beforehand on validation data (see chooseThreshold), with a description. */
  chosenThreshold?: { threshold: number; description: string };
  calibrationBins?: number;
  bootstrap?: { resamples?: number; seed?: number; confidence?: number };
}

export interface ThresholdEvaluation {
  threshold: number;
  description: string;
  metrics: BinaryMetrics;
  /** Rows: true class index, columns: predicted class index. */
  confusionMatrix: number[][];
  /** Bootstrap intervals at this threshold (threshold-free metrics such as AUC included). */
  confidenceIntervals: Record<BootstrapMetricName, ConfidenceInterval>;
}

export interface ScreeningEvaluation {
  positiveClass: number;
  classNames: string[];
  counts: { total: number; positives: number; negatives: number };
  /** Threshold 0.5, i.e. softmax argmax. */
  atDefaultThreshold: ThresholdEvaluation;
  /** The validation-chosen threshold, or null when none was given. */
  atChosenThreshold: ThresholdEvaluation | null;
  auc: number;
  averagePrecision: number;
  roc: RocPoint[];
  precisionRecall: PrecisionRecallPoint[];
  calibration: CalibrationResult;
  bootstrap: { method: 'percentile'; resamples: number; seed: number; confidence: number };
}

/** Metrics at 0.5 and at a chosen threshold, curves, calibration and bootstrap CIs in one object. */
export function evaluateScreening(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: ScreeningOptions = {},
): ScreeningEvaluation {
  const { positiveClass = 0, classNames = ['COVID', 'NORMAL'], chosenThreshold, calibrationBins = 10 } = options;
  const { resamples = 1000, seed = 42, confidence = 0.95 } = options.bootstrap ?? {};
  if (classNames.length !== 2) throw new UserFacingError(`classNames must name 2 classes, got ${classNames.length}`);
  const sample = prepare(trueLabels, positiveProbabilities, positiveClass);
  const { positives, negatives } = classTotals(sample, unitWeights(trueLabels.length));

  const evaluateAt = (threshold: number, description: string): ThresholdEvaluation => {
    const bootstrap = bootstrapConfidenceIntervals(trueLabels, positiveProbabilities, {
      resamples,
      seed,
      confidence,
      threshold,
      positiveClass,
      calibrationBins,
    });
    return {
      threshold,
      description,
      metrics: binaryMetrics(trueLabels, positiveProbabilities, { threshold, positiveClass }),
      confusionMatrix: confusionMatrix(
        trueLabels,
        predictLabels(positiveProbabilities, { threshold, positiveClass }),
        2,
      ),
      confidenceIntervals: bootstrap.intervals,
    };
  };

  const { auc, averagePrecision: averagePrecisionValue } = rankingScores(sample, unitWeights(trueLabels.length));
  return {
    positiveClass,
    classNames: classNames.slice(),
    counts: { total: trueLabels.length, positives, negatives },
    atDefaultThreshold: evaluateAt(0.5, 'argmax (probability >= 0.5)'),
    atChosenThreshold: chosenThreshold ? evaluateAt(chosenThreshold.threshold, chosenThreshold.description) : null,
    auc,
    averagePrecision: averagePrecisionValue,
    roc: rocCurve(trueLabels, positiveProbabilities, { positiveClass }),
    precisionRecall: precisionRecallCurve(trueLabels, positiveProbabilities, { positiveClass }),
    calibration: calibration(trueLabels, positiveProbabilities, calibrationBins, { positiveClass }),
    bootstrap: { method: 'percentile', resamples, seed, confidence },
  };
}
