/**
 * Figures and tables of a screening evaluation, shared by notebook 04 and `npm run evaluate`:
 * ROC, precision-recall, reliability diagram and confusion matrix, plus the metric table rows.
 */
import type { FigureName } from '../core/paths';
import { confusionMatrixChart } from './confusionChart';
import { lineChart } from './lineChart';
import type { ScreeningEvaluation, ThresholdEvaluation } from '../evaluate/screening';
import { formatWithInterval, ReportFigure } from './report';

export type NamedFigure = ReportFigure & { name: FigureName };

/**
 * ROC, precision-recall, reliability diagram and confusion matrices (argmax, and the chosen threshold
 * when there is one). `headline` is the evaluation whose CIs label the curves. Each figure has a
 * file-friendly `name`.
 */
export function screeningFigures(
  metrics: ScreeningEvaluation,
  headline: ThresholdEvaluation = metrics.atChosenThreshold ?? metrics.atDefaultThreshold,
): NamedFigure[] {
  const positive = metrics.classNames[metrics.positiveClass];
  const unit: [number, number] = [0, 1];
  const figures: NamedFigure[] = [
    {
      name: 'roc-curve',
      title: 'ROC curve',
      png: lineChart({
        title: `ROC curve (${positive} positive)`,
        xLabel: 'False positive rate (1 - specificity)',
        yLabel: 'True positive rate (sensitivity)',
        series: [
          {
            name: `model, AUC ${formatWithInterval(headline.confidenceIntervals.auc)}`,
            x: metrics.roc.map((p) => p.falsePositiveRate),
            y: metrics.roc.map((p) => p.truePositiveRate),
          },
        ],
        xDomain: unit,
        yDomain: unit,
        diagonal: true,
      }),
      caption: 'The dashed diagonal is a model that guesses.',
    },
    {
      name: 'precision-recall-curve',
      title: 'Precision-recall curve',
      png: lineChart({
        title: `Precision-recall (${positive} positive)`,
        xLabel: 'Recall (sensitivity)',
        yLabel: 'Precision (PPV)',
        series: [
          {
            name: `model, AP ${formatWithInterval(headline.confidenceIntervals.averagePrecision)}`,
            x: metrics.precisionRecall.map((p) => p.recall),
            y: metrics.precisionRecall.map((p) => p.precision),
          },
          {
            name: `prevalence ${(metrics.counts.positives / Math.max(1, metrics.counts.total)).toFixed(3)}`,
            x: [0, 1],
            y: [1, 1].map(() => metrics.counts.positives / Math.max(1, metrics.counts.total)),
            dashed: true,
          },
        ],
        xDomain: unit,
        yDomain: unit,
      }),
      caption: 'The dashed line is the precision of a model that guesses (the share of positive images).',
    },
    {
      name: 'reliability-diagram',
      title: 'Reliability diagram',
      png: lineChart({
        title: 'Calibration',
        xLabel: `Mean predicted probability of ${positive}`,
        yLabel: `Observed fraction ${positive}`,
        series: [
          {
            name: `model, ECE ${formatWithInterval(headline.confidenceIntervals.expectedCalibrationError)}`,
            x: metrics.calibration.bins.map((bin) => bin.meanPredicted),
            y: metrics.calibration.bins.map((bin) => bin.fractionPositive),
          },
        ],
        xDomain: unit,
        yDomain: unit,
        diagonal: true,
      }),
      caption: 'Points on the diagonal are well calibrated; empty bins are left out.',
    },
  ];
  const evaluations = [metrics.atDefaultThreshold, ...(metrics.atChosenThreshold ? [metrics.atChosenThreshold] : [])];
  for (const evaluation of evaluations) {
    const title = `Confusion matrix at threshold ${Number(evaluation.threshold.toFixed(4))}`;
    figures.push({
      name: evaluation === metrics.atDefaultThreshold ? 'confusion-matrix-argmax' : 'confusion-matrix-chosen-threshold',
      title,
      png: confusionMatrixChart(evaluation.confusionMatrix, metrics.classNames, title),
      caption:
        `${evaluation === metrics.atDefaultThreshold ? 'Argmax' : `Threshold ${evaluation.description}`}. ` +
        `Rows: true class; columns: predicted class.`,
    });
  }
  return figures;
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
  const columns = [
    evaluation.atDefaultThreshold,
    ...(evaluation.atChosenThreshold ? [evaluation.atChosenThreshold] : []),
  ];
  return {
    header: ['metric', ...columns.map((column) => `${column.description} (threshold ${column.threshold.toFixed(3)})`)],
    rows: metricRows.map(([label, key]) => [
      label,
      ...columns.map((column) => formatWithInterval(column.confidenceIntervals[key])),
    ]),
  };
}

/** Accuracy, sensitivity, specificity and AUC with their CIs at one threshold, for terminals and logs. */
export function headline(at: ThresholdEvaluation, digits = 3): string {
  const ci = at.confidenceIntervals;
  return (
    `accuracy ${formatWithInterval(ci.accuracy, digits)}, sensitivity ` +
    `${formatWithInterval(ci.sensitivity, digits)}, specificity ${formatWithInterval(ci.specificity, digits)}, AUC ` +
    `${formatWithInterval(ci.auc, digits)}`
  );
}
