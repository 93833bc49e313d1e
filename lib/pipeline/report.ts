/**
 * The HTML report of an evaluation: one function for the run's report (outputs/report.html, from
 * metrics.json and the saved figures) and for `npm run evaluate`'s report of external data.
 */
import * as fs from 'fs';
import { Config } from '../core/config';
import { FigureName, outputPaths } from '../core/paths';
import { readRunMetrics, RunMetrics } from '../evaluate/runMetrics';
import { formatWithInterval, ReportFigure, writeReport } from '../view/report';
import { escapeHtml } from '../view/html';
import { auditTable, energyTable, faithfulnessTable, sanityTable } from '../view/explanationFigures';
import type { Explanations } from './explain';
import { methodLabels } from './explainRun';
import { describeTime, staleOutputs } from './freshness';

/** Figures of notebook 04, written with metrics.json: out of date exactly when it is. */
const evaluationFigures = new Set<FigureName>([
  'roc-curve',
  'precision-recall-curve',
  'reliability-diagram',
  'reliability-before-after',
  'guard-scores',
  'confusion-matrix-argmax',
  'confusion-matrix-chosen-threshold',
]);
import { mitigationTable, savedMitigations, summarizeMitigations } from './mitigations';
import { htmlTable } from '../view/display';

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
  ['cam-methods-grid', 'The same test images explained by each CAM method'],
  ['deletion-curves', 'Faithfulness: deletion curves (mean over the sample)'],
  ['insertion-curves', 'Faithfulness: insertion curves (mean over the sample)'],
  ['cam-energy-histogram', 'Shortcut audit: share of CAM energy inside the central region, every test image'],
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
  sections: { title: string; html: string }[] = [],
  warnings: string[] = [],
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
    sections,
    warnings,
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

/**
 * outputs/report.html from outputs/metrics.json and the figures saved so far. Pieces that do not
 * belong to the saved model (metrics.json and notebook 04's figures after notebook 03 ran again,
 * a model trained on another split) are said in a box at the top and under each such figure.
 */
export async function writeRunReport(config: Config): Promise<string> {
  const paths = outputPaths(config);
  const metrics = readRunMetrics(paths.metrics);
  const warnings = staleOutputs(config);
  const metricsStale = warnings.some((line) => line.startsWith('metrics.json'));
  const staleCaption = `Out of date: from the model trained at ${describeTime(metrics.model.trainedAt)}, like metrics.json.`;
  const figures = runFigures
    .filter(([name]) => fs.existsSync(paths.figure(name)))
    .map(([name, title]) => ({
      title,
      png: fs.readFileSync(paths.figure(name)),
      ...(metricsStale && evaluationFigures.has(name) ? { caption: staleCaption } : {}),
    }));
  const title = 'COVID-19 vs NORMAL chest X-rays: ResNet50 transfer learning';
  const sections = fs.existsSync(paths.explanations)
    ? explanationSections(JSON.parse(fs.readFileSync(paths.explanations, 'utf8')) as Explanations)
    : [];
  const mitigations = savedMitigations(config);
  if (mitigations) {
    const table = mitigationTable(summarizeMitigations(mitigations));
    const note = `Recipe ${mitigations.recipe}, ${mitigations.ensembleSize} head(s), split seeds ${mitigations.splitSeeds.join(', ')} (mean ± sd); audit on the first split. Choose on the validation columns; the test columns are reported, never used to choose.`;
    sections.push({
      title: 'Shortcut mitigations (npm run mitigations)',
      html: htmlTable(table.header, table.rows) + `<p class="note">${escapeHtml(note)}</p>`,
    });
  }
  return writeEvaluationReport(paths.report, title, metrics, figures, sections, warnings);
}

/** The tables of outputs/explanations.json, for the run's report. */
function explanationSections(explanations: Explanations): { title: string; html: string }[] {
  const classNames = Object.keys(explanations.sample.perClass);
  const sample = Object.entries(explanations.sample.perClass)
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');
  const failing = Object.entries(explanations.sanity.passed)
    .filter(([, passed]) => !passed)
    .map(([name]) => methodLabels[name]);
  const paragraph = (text: string) => `<p class="note">${escapeHtml(text)}</p>`;
  const regions = explanations.audit.regions;
  return [
    {
      title: 'Explanations: faithfulness',
      html:
        faithfulnessTable(explanations.faithfulness, methodLabels) +
        paragraph(
          `Deletion/insertion areas over a fixed sample of test images (${sample}; occlusion on ${explanations.sample.occlusionImages}), 95% bootstrap intervals. Most faithful on this model: ${methodLabels[explanations.mostFaithful]}.`,
        ),
    },
    {
      title: 'Explanations: sanity check (Adebayo et al. 2018)',
      html:
        sanityTable(explanations.sanity.methods, explanations.sanity.passed, explanations.sanity.stages, methodLabels) +
        paragraph(
          `Mean Spearman / SSIM between the trained head's maps and the maps after randomising the head (cascading, last layer first) or after training it on shuffled labels, ${explanations.sanity.images} images. ${failing.length ? `Fails (maps barely change, so they do not explain this model): ${failing.join(', ')}.` : 'Every method passes.'}`,
        ),
    },
    {
      title: 'Shortcut audit (whole test set)',
      html:
        auditTable(explanations.audit.whole, regions) +
        energyTable(explanations.audit.energyInsideBox, classNames, methodLabels) +
        paragraph(
          `Share of each map's energy inside the central box (${regions[0] ? `${(regions[0].area * 100).toFixed(0)}% of the image` : ''}); a map that ignores the image would put that share inside.`,
        ),
    },
  ];
}
