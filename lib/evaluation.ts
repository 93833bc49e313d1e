/**
 * Figures and tables of a screening evaluation, shared by notebook 04 and `npm run evaluate`:
 * ROC, precision-recall, reliability diagram and confusion matrix, plus the metric table rows.
 */
import { confusionMatrixChart, lineChart } from './charts';
import type { ScreeningEvaluation, ThresholdEvaluation } from './metrics';
import { formatWithInterval, ReportFigure } from './report';

/** The figures, each with a file-friendly `name` (roc-curve, precision-recall-curve, ...). */
export function screeningFigures(evaluation: ScreeningEvaluation, subject: string): (ReportFigure & { name: string })[] {
  const positive = evaluation.classNames[evaluation.positiveClass];
  const finite = <T extends Record<string, number>>(points: T[], keys: (keyof T)[]) => points.filter((point) => keys.every((key) => Number.isFinite(point[key])));
  const roc = finite(evaluation.roc as unknown as Record<string, number>[], ['falsePositiveRate', 'truePositiveRate']);
  const pr = finite(evaluation.precisionRecall as unknown as Record<string, number>[], ['recall', 'precision']);
  const bins = evaluation.calibration.bins.filter((bin) => bin.count > 0);
  const chosen = evaluation.atChosenThreshold;
  return [
    {
      name: 'roc-curve',
      title: `ROC curve (${positive} positive)`,
      png: lineChart({
        title: `ROC, ${subject}: AUC ${formatWithInterval(evaluation.atDefaultThreshold.confidenceIntervals.auc)}`,
        xLabel: '1 - specificity (false positive rate)', yLabel: 'sensitivity (true positive rate)',
        xDomain: [0, 1], yDomain: [0, 1], diagonal: true,
        series: [{ name: 'model', x: roc.map((point) => point.falsePositiveRate), y: roc.map((point) => point.truePositiveRate) }],
      }),
    },
    {
      name: 'precision-recall-curve',
      title: 'Precision-recall curve',
      png: lineChart({
        title: `Precision-recall, ${subject}: AP ${formatWithInterval(evaluation.atDefaultThreshold.confidenceIntervals.averagePrecision)}`,
        xLabel: 'recall (sensitivity)', yLabel: 'precision (PPV)', xDomain: [0, 1], yDomain: [0, 1],
        series: [{ name: 'model', x: pr.map((point) => point.recall), y: pr.map((point) => point.precision) }],
      }),
    },
    {
      name: 'reliability-diagram',
      title: 'Reliability diagram',
      caption: `Expected calibration error ${evaluation.calibration.expectedCalibrationError.toFixed(3)}, Brier score ${evaluation.calibration.brierScore.toFixed(3)}`,
      png: lineChart({
        title: `Calibration, ${subject}`,
        xLabel: `mean predicted probability of ${positive}`, yLabel: `fraction that is ${positive}`,
        xDomain: [0, 1], yDomain: [0, 1], diagonal: true,
        series: [{ name: 'model', x: bins.map((bin) => bin.meanPredicted), y: bins.map((bin) => bin.fractionPositive) }],
      }),
    },
    {
      name: 'confusion-matrix-argmax',
      title: 'Confusion matrix (threshold 0.5 / argmax)',
      png: confusionMatrixChart(evaluation.atDefaultThreshold.confusionMatrix, evaluation.classNames, `Confusion matrix, ${subject} (argmax)`),
    },
    ...(chosen
      ? [{ name: 'confusion-matrix-chosen-threshold', title: `Confusion matrix (${chosen.description})`, png: confusionMatrixChart(chosen.confusionMatrix, evaluation.classNames, `Confusion matrix, ${subject} (threshold ${chosen.threshold.toFixed(3)})`) }]
      : []),
  ];
}

const metricRows: [string, keyof ThresholdEvaluation['confidenceIntervals']][] = [
  ['accuracy', 'accuracy'],
  ['balanced accuracy', 'balancedAccuracy'],
  ['sensitivity (recall)', 'sensitivity'],
  ['specificity', 'specificity'],
  ['PPV (precision)', 'ppv'],
  ['NPV', 'npv'],
  ['F1', 'f1'],
  ['ROC AUC', 'auc'],
  ['average precision', 'averagePrecision'],
  ['Brier score', 'brierScore'],
  ['expected calibration error', 'expectedCalibrationError'],
];

/** Rows "metric | at 0.5 | at the chosen threshold", each value with its 95% CI. */
export function metricTable(evaluation: ScreeningEvaluation): { header: string[]; rows: string[][] } {
  const columns = [evaluation.atDefaultThreshold, ...(evaluation.atChosenThreshold ? [evaluation.atChosenThreshold] : [])];
  return {
    header: ['metric', ...columns.map((column) => `${column.description} (threshold ${column.threshold.toFixed(3)})`)],
    rows: metricRows.map(([label, key]) => [label, ...columns.map((column) => formatWithInterval(column.confidenceIntervals[key]))]),
  };
}

/** One line for terminals: accuracy, sensitivity, specificity and AUC with CIs. */
export function headline(evaluation: ScreeningEvaluation, at: ThresholdEvaluation = evaluation.atChosenThreshold ?? evaluation.atDefaultThreshold): string {
  const ci = at.confidenceIntervals;
  return `accuracy ${formatWithInterval(ci.accuracy)}, sensitivity ${formatWithInterval(ci.sensitivity)}, specificity ${formatWithInterval(ci.specificity)}, AUC ${formatWithInterval(ci.auc)} (threshold ${at.threshold.toFixed(3)})`;
}
