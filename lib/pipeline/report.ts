/**
 * The HTML report of an evaluation: one function for the run's report (outputs/report.html, from
 * metrics.json and the saved figures) and for `npm run evaluate`'s report of external data.
 */
import * as fs from 'fs';
import { Config } from '../core/config';
import { FigureName, outputPaths } from '../core/paths';
import { readRunMetrics, RunMetrics } from '../evaluate/runMetrics';
import { formatWithInterval, ReportFigure, writeReport } from '../view/report';

/** Figures of the run's report, in order, with their titles. */
const runFigures: [FigureName, string][] = [
  ['training-loss', 'Training loss per epoch'],
  ['training-accuracy', 'Training accuracy per epoch'],
  ['roc-curve', 'ROC curve'],
  ['precision-recall-curve', 'Precision-recall curve'],
  ['reliability-diagram', 'Reliability diagram'],
  ['reliability-before-after', 'Calibration before and after temperature scaling (test images)'],
  ['guard-scores', 'Out-of-distribution guard scores: validation, test and non-X-ray photos'],
  ['confusion-matrix-argmax', 'Confusion matrix (argmax)'],
  ['confusion-matrix-chosen-threshold', 'Confusion matrix (threshold chosen on validation)'],
  ['gradcam-grid', 'Grad-CAM on conv5_block3_out: correctly classified NORMAL (top) and COVID-19 (bottom) test images'],
  ['samples', 'Sample training images'],
];

const sourceCaveat =
  'The COVID-19 and NORMAL images come from different hospitals: a high score may partly reflect the source, not ' +
  'the disease.';

/** Notes on temperature scaling and the out-of-distribution guard, when the run has them. */
function safeguardNotes(metrics: RunMetrics): string[] {
  const notes: string[] = [];
  const calibration = metrics.calibration;
  if (calibration) {
    const side = (name: string, value: typeof calibration.before) =>
      `${name}: ECE ${formatWithInterval(value.expectedCalibrationError)}, Brier ${formatWithInterval(value.brierScore)}`;
    notes.push(
      `Temperature scaling (T = ${calibration.temperature.toFixed(3)}, fitted on validation images); on the evaluated images ${side('raw', calibration.before)}; ${side('calibrated', calibration.after)}. The metrics above use the calibrated probabilities.`,
    );
  }
  const summary = metrics.outOfDistribution;
  const guard = summary?.result;
  if (summary && !guard) notes.push(summary.status);
  if (guard) {
    const without = guard.withoutFlagged;
    const at = without ? (without.atChosenThreshold ?? without.atDefaultThreshold) : undefined;
    const rest = at
      ? ` Without them (${without!.evaluated} images, threshold ${at.threshold.toFixed(3)}): accuracy ${formatWithInterval(at.confidenceIntervals.accuracy)}, sensitivity ${formatWithInterval(at.confidenceIntervals.sensitivity)}, specificity ${formatWithInterval(at.confidenceIntervals.specificity)}.`
      : '';
    notes.push(
      `Out-of-distribution guard (${guard.method}, threshold at the ${guard.percentile}th percentile of validation scores): ${guard.flagged} of ${guard.evaluated} images flagged.${rest}`,
    );
  }
  return notes;
}

/** Writes one evaluation's report: its metrics, settings, counts, timings and figures. */
export async function writeEvaluationReport(
  file: string,
  title: string,
  metrics: RunMetrics,
  figures: ReportFigure[],
): Promise<string> {
  const counts = metrics.counts.split
    ? { ...metrics.counts.split, skipped: metrics.counts.skipped }
    : { ...metrics.counts.perClass, evaluated: metrics.counts.evaluated, skipped: metrics.counts.skipped };
  const loss = metrics.test.loss.toFixed(4);
  const accuracy = metrics.test.accuracy.toFixed(4);
  const article = metrics.kind === 'test split' ? ' (article: 0.108 and 0.95)' : '';
  await writeReport(file, {
    title,
    generatedAt: metrics.generatedAt,
    settings: metrics.settings,
    dataCounts: counts,
    backend: metrics.backend,
    engine: metrics.engine,
    timings: metrics.timings,
    metrics: metrics.metrics,
    figures,
    notes: [
      `model.evaluate on the ${metrics.counts.evaluated} evaluated images: loss ${loss}, accuracy ` +
        `${accuracy}${article}`,
      ...(metrics.model.recipe ? [`training recipe "${metrics.model.recipe}"`] : []),
      ...metrics.notes,
      ...safeguardNotes(metrics),
      sourceCaveat,
    ],
  });
  return file;
}

/** outputs/report.html from outputs/metrics.json and the figures saved so far. */
export async function writeRunReport(config: Config): Promise<string> {
  const paths = outputPaths(config);
  const metrics = readRunMetrics(paths.metrics);
  const figures = runFigures
    .filter(([name]) => fs.existsSync(paths.figure(name)))
    .map(([name, title]) => ({ title, png: fs.readFileSync(paths.figure(name)) }));
  const title = 'COVID-19 vs NORMAL chest X-rays: ResNet50 transfer learning';
  return writeEvaluationReport(paths.report, title, metrics, figures);
}
