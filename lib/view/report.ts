/**
 * One self-contained HTML report of a run: headline screening metrics with bootstrap CIs,
 * confusion matrices, calibration, settings, data counts, backend and timings, and figures.
 * Everything is inline (CSS, PNGs as data URIs) and a Content-Security-Policy forbids any other
 * load, so the file can be mailed or archived and opens offline without scripts.
 */
import { writeFileAtomic } from '../core/atomic';
import { UserFacingError } from '../core/errors';
import { ConfidenceInterval } from '../evaluate/bootstrap';
import { BinaryMetrics } from '../evaluate/confusion';
import { ScreeningEvaluation, ThresholdEvaluation } from '../evaluate/screening';
import { escapeHtml } from './html';

export interface ReportFigure {
  title: string;
  png: Uint8Array;
  caption?: string;
}

export interface ScreeningReport {
  title: string;
  /** Shown as given (e.g. an ISO timestamp). */
  generatedAt: string;
  settings: Record<string, unknown>;
  /** E.g. { train: 1431, validation: 158, test: 895 }. */
  dataCounts: Record<string, number>;
  backend: string;
  engine: string;
  /** Durations in seconds, by step name. */
  timings: Record<string, number>;
  metrics: ScreeningEvaluation;
  figures: ReportFigure[];
  /**
   * Extra sections after the figures, e.g. the explanation checks; `html` is trusted markup (built
   * with htmlTable, which escapes).
   */
  sections?: { title: string; html: string }[];
  notes?: string[];
  /** Out-of-date pieces (lib/pipeline/freshness), shown in a box at the top, one line each. */
  warnings?: string[];
}

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A metric value with fixed decimals; NaN (undefined, e.g. no positive cases) reads "n/a". */
function formatNumber(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** "0.930 (0.901–0.952)": the value with its bootstrap interval. */
export function formatWithInterval(interval: ConfidenceInterval, digits = 3): string {
  const value = formatNumber(interval.value, digits);
  if (!Number.isFinite(interval.lower) || !Number.isFinite(interval.upper)) return value;
  return `${value} (${formatNumber(interval.lower, digits)}\u2013${formatNumber(interval.upper, digits)})`;
}

/** Seconds as "0.42 s", "12.3 s", "3 min 05 s" or "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'n/a';
  if (seconds < 1) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const wholeSeconds = Math.round(seconds);
  if (wholeSeconds < 3600)
    return `${Math.floor(wholeSeconds / 60)} min ${String(wholeSeconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(wholeSeconds / 3600)} h ${String(Math.floor((wholeSeconds % 3600) / 60)).padStart(2, '0')} min`;
}

function formatSetting(value: unknown): string {
  if (value === undefined || value === null) return '\u2014';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  try {
    return (
      JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner)) ??
      String(value)
    );
  } catch {
    return String(value);
  }
}

function pngDataUri(figure: ReportFigure, index: number): string {
  const bytes = figure.png;
  if (!bytes || bytes.length < pngSignature.length || pngSignature.some((byte, i) => bytes[i] !== byte)) {
    throw new UserFacingError(`report figure ${index + 1} ("${figure.title}") is not a PNG image`);
  }
  return `data:image/png;base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')}`;
}

const styles = `
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --panel: #f5f7fa; --accent: #2456a6; }
* { box-sizing: border-box; }
body {
  margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
  color: var(--ink); background: #fff;
}
main { max-width: 1080px; margin: 0 auto; padding: 32px 28px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 24px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 8px; }
.meta { color: var(--muted); margin: 0; }
.meta strong { color: var(--ink); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 14px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card .label { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 30px; font-weight: 650; line-height: 1.2; }
.card .interval { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
th small, td small { font-weight: 400; color: var(--muted); }
td.number, th.number { text-align: right; white-space: nowrap; }
td.setting { word-break: break-word; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 4px 28px; }
.two > div, .scroll { min-width: 0; overflow-x: auto; }
.matrix { width: auto; }
.matrix td { text-align: center; min-width: 110px; font-size: 17px; }
.matrix td small { display: block; color: var(--muted); font-size: 12px; }
.matrix th.corner { background: #fff; color: var(--muted); font-weight: 400; font-size: 12px; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 8px; font-size: 13px; color: var(--muted); }
figcaption strong { color: var(--ink); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
ul.notes li { margin: 4px 0; }
.warnings { border: 2px solid #b45309; background: #fffbeb; padding: 8px 16px; margin: 16px 0; }
.warnings li { margin: 4px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
`;

interface MetricRow {
  label: string;
  key: keyof BinaryMetrics & keyof ThresholdEvaluation['confidenceIntervals'];
}

const thresholdMetricRows: MetricRow[] = [
  { label: 'Sensitivity (recall)', key: 'sensitivity' },
  { label: 'Specificity', key: 'specificity' },
  { label: 'PPV (precision)', key: 'ppv' },
  { label: 'NPV', key: 'npv' },
  { label: 'F1 score', key: 'f1' },
  { label: 'Accuracy', key: 'accuracy' },
  { label: 'Balanced accuracy', key: 'balancedAccuracy' },
];

const rankingMetricRows: {
  label: string;
  key: 'auc' | 'averagePrecision' | 'brierScore' | 'expectedCalibrationError';
  hint: string;
}[] = [
  { label: 'ROC AUC', key: 'auc', hint: 'higher is better' },
  { label: 'Average precision', key: 'averagePrecision', hint: 'higher is better' },
  { label: 'Brier score', key: 'brierScore', hint: 'lower is better' },
  { label: 'Expected calibration error', key: 'expectedCalibrationError', hint: 'lower is better' },
];

function headlineCards(metrics: ScreeningEvaluation): string {
  const evaluation = metrics.atDefaultThreshold;
  const cards: [string, ConfidenceInterval][] = [
    ['Accuracy', evaluation.confidenceIntervals.accuracy],
    [`Sensitivity (${metrics.classNames[metrics.positiveClass]})`, evaluation.confidenceIntervals.sensitivity],
    ['Specificity', evaluation.confidenceIntervals.specificity],
    ['ROC AUC', evaluation.confidenceIntervals.auc],
  ];
  const percent = Math.round(metrics.bootstrap.confidence * 100);
  return `<div class="cards">${cards
    .map(([label, interval]) => {
      const range = Number.isFinite(interval.lower)
        ? `${percent}% CI ${formatNumber(interval.lower)}\u2013${formatNumber(interval.upper)}`
        : 'no interval';
      return (
        `<div class="card"><div class="label">${escapeHtml(label)}</div><div ` +
        `class="value">${formatNumber(interval.value)}</div><div class="interval">${escapeHtml(range)}</div></div>`
      );
    })
    .join('')}</div>`;
}

function thresholdLabel(evaluation: ThresholdEvaluation): string {
  return (
    `${escapeHtml(evaluation.description)}<br><small>threshold ` +
    `${escapeHtml(formatNumber(evaluation.threshold, 4))}</small>`
  );
}

function metricsTable(metrics: ScreeningEvaluation): string {
  const evaluations = [metrics.atDefaultThreshold, ...(metrics.atChosenThreshold ? [metrics.atChosenThreshold] : [])];
  const head = `<tr><th>Metric (${escapeHtml(metrics.classNames[metrics.positiveClass])} positive)</th>${evaluations
    .map((evaluation) => `<th class="number">${thresholdLabel(evaluation)}</th>`)
    .join('')}</tr>`;
  const rows = thresholdMetricRows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.label)}</td>${evaluations
          .map(
            (evaluation) =>
              `<td class="number">${escapeHtml(formatWithInterval(evaluation.confidenceIntervals[row.key]))}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('');
  const intervals = metrics.atDefaultThreshold.confidenceIntervals;
  const ranking = rankingMetricRows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.label)} <small class="note">(${escapeHtml(row.hint)})</small></td>` +
        `<td class="number">${escapeHtml(formatWithInterval(intervals[row.key]))}</td></tr>`,
    )
    .join('');
  const valueHeader = `Value (${Math.round(metrics.bootstrap.confidence * 100)}% CI)`;
  const rankingTable = `<table><tr><th>Metric</th><th class="number">${valueHeader}</th></tr>${ranking}</table>`;
  const positiveName = escapeHtml(metrics.classNames[metrics.positiveClass]);
  const calibrationNote =
    `Share of ${positiveName} images per band of predicted probability; ` +
    'a calibrated model has fraction close to mean predicted.';
  return `<h3>At a decision threshold</h3>
<div class="scroll"><table>${head}${rows}</table></div>
<div class="two">
<div><h3>Threshold-free</h3><div class="scroll">${rankingTable}</div></div>
<div><h3>Calibration</h3><p class="note">${calibrationNote}</p>${calibrationDetails(metrics)}</div>
</div>`;
}

/** Cells tinted by their share of the row: green on the diagonal (correct), red off it. */
function confusionTable(metrics: ScreeningEvaluation, evaluation: ThresholdEvaluation): string {
  const names = metrics.classNames;
  const header =
    `<tr><th class="corner">true \u2193 / predicted ` +
    `\u2192</th>${names.map((name) => `<th>${escapeHtml(name)}</th>`).join('')}</tr>`;
  const rows = evaluation.confusionMatrix
    .map((row, trueClass) => {
      const rowTotal = row.reduce((sum, count) => sum + count, 0);
      const cells = row
        .map((count, predictedClass) => {
          const share = rowTotal > 0 ? count / rowTotal : 0;
          const colour = trueClass === predictedClass ? '46, 160, 67' : '215, 58, 73';
          const percent = rowTotal > 0 ? `${(share * 100).toFixed(1)}%` : 'n/a';
          return (
            `<td style="background: rgba(${colour}, ` +
            `${(0.08 + share * 0.45).toFixed(3)})">${count}<small>${percent} of row</small></td>`
          );
        })
        .join('');
      return `<tr><th>${escapeHtml(names[trueClass] ?? String(trueClass))}</th>${cells}</tr>`;
    })
    .join('');
  return `<div><h3>${thresholdLabel(evaluation)}</h3><table class="matrix">${header}${rows}</table></div>`;
}

function keyValueTable(
  entries: [string, string][],
  valueClass: string,
  firstHeader: string,
  secondHeader: string,
): string {
  if (entries.length === 0) return '<p class="note">None recorded.</p>';
  const rows = entries
    .map(([key, value]) => `<tr><td>${escapeHtml(key)}</td><td class="${valueClass}">${escapeHtml(value)}</td></tr>`)
    .join('');
  const valueHeader = `<th${valueClass === 'number' ? ' class="number"' : ''}>${escapeHtml(secondHeader)}</th>`;
  return `<table><tr><th>${escapeHtml(firstHeader)}</th>${valueHeader}</tr>${rows}</table>`;
}

function calibrationDetails(metrics: ScreeningEvaluation): string {
  const rows = metrics.calibration.bins
    .map(
      (bin) =>
        `<tr><td>${formatNumber(bin.lower, 1)}\u2013${formatNumber(bin.upper, 1)}</td>` +
        `<td class="number">${bin.count}</td><td class="number">${formatNumber(bin.meanPredicted)}</td>` +
        `<td class="number">${formatNumber(bin.fractionPositive)}</td></tr>`,
    )
    .join('');
  const header =
    '<tr><th>Predicted probability</th><th class="number">Images</th><th class="number">Mean predicted</th>' +
    `<th class="number">Fraction ${escapeHtml(metrics.classNames[metrics.positiveClass])}</th></tr>`;
  return `<table>${header}${rows}</table>`;
}

function figuresSection(figures: ReportFigure[]): string {
  if (figures.length === 0) return '';
  const items = figures
    .map((figure, index) => {
      const caption = figure.caption ? ` ${escapeHtml(figure.caption)}` : '';
      return (
        `<figure><img src="${pngDataUri(figure, index)}" ` +
        `alt="${escapeHtml(figure.title)}">` +
        `<figcaption><strong>${escapeHtml(figure.title)}.</strong>${caption}</figcaption></figure>`
      );
    })
    .join('\n');
  return `<h2>Figures</h2><div class="figures">${items}</div>`;
}

/**
 * Renders the report as one HTML page; all text is HTML-escaped. Throws UserFacingError for a figure
 * that is not a PNG.
 */
export function renderReport(report: ScreeningReport): string {
  const { metrics } = report;
  const counts = metrics.counts;
  const positiveName = metrics.classNames[metrics.positiveClass];
  const resamples = metrics.bootstrap.resamples;
  const percent = Math.round(metrics.bootstrap.confidence * 100);
  const evaluations = [metrics.atDefaultThreshold, ...(metrics.atChosenThreshold ? [metrics.atChosenThreshold] : [])];
  const notes = report.notes ?? [];
  const meta = [
    `Generated <strong>${escapeHtml(report.generatedAt)}</strong>`,
    `backend <strong>${escapeHtml(report.backend)}</strong>`,
    `engine <strong>${escapeHtml(report.engine)}</strong>`,
    `test images <strong>${counts.total}</strong> ` +
      `(${escapeHtml(positiveName)} ${counts.positives}, other ${counts.negatives})`,
  ].join(' \u00b7 ');
  const intervals =
    `${percent}% confidence intervals: percentile bootstrap over test images, ${resamples} resamples, ` +
    `seed ${metrics.bootstrap.seed}. Positive class: ${escapeHtml(positiveName)}.`;
  const footer =
    'Self-contained report: styles and figures are embedded; the page loads nothing else and runs no scripts.';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${styles}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(report.title)}</h1>
<p class="meta">${meta}</p>
</header>
${warningsBox(report.warnings ?? [])}

<h2>Headline (argmax, threshold 0.5)</h2>
${headlineCards(metrics)}
<p class="note">${intervals}</p>

<h2>Screening metrics</h2>
${metricsTable(metrics)}

<h2>Confusion matrices</h2>
<div class="two">${evaluations.map((evaluation) => confusionTable(metrics, evaluation)).join('\n')}</div>

${figuresSection(report.figures)}
${(report.sections ?? []).map((section) => `<h2>${escapeHtml(section.title)}</h2>\n${section.html}`).join('\n')}

<h2>Data and run</h2>
<div class="two">
<div><h3>Images per split</h3>${keyValueTable(
    Object.entries(report.dataCounts).map(([key, value]) => [key, String(value)]),
    'number',
    'Split',
    'Images',
  )}</div>
<div><h3>Timings</h3>${keyValueTable(
    Object.entries(report.timings).map(([key, value]) => [key, formatDuration(value)]),
    'number',
    'Step',
    'Duration',
  )}
<p class="note">Backend: ${escapeHtml(report.backend)} \u00b7 feature engine: ${escapeHtml(report.engine)}</p></div>
</div>
<h3>Settings</h3>
${keyValueTable(
  Object.entries(report.settings).map(([key, value]) => [key, formatSetting(value)]),
  'setting',
  'Setting',
  'Value',
)}
${
  notes.length > 0
    ? `<h2>Notes</h2><ul class="notes">` + `${notes.map((note) => `<li>${escapeHtml(note)}</li>`).join('')}</ul>`
    : ''
}
<footer>${footer}</footer>
</main>
</body>
</html>
`;
}

function warningsBox(warnings: string[]): string {
  if (warnings.length === 0) return '';
  const items = warnings.map((line) => `<li>${escapeHtml(line)}</li>`).join('');
  return `<section class="warnings" id="out-of-date"><h2>Out of date</h2><ul>${items}</ul></section>`;
}

/** Renders and writes the report atomically (an interrupted run never leaves half a page). */
export async function writeReport(filePath: string, report: ScreeningReport): Promise<void> {
  await writeFileAtomic(filePath, renderReport(report));
}
