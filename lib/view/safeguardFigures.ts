/**
 * Figures of the safeguards: the out-of-distribution guard's score histogram per image group with
 * the flag threshold, and the reliability diagram before and after temperature scaling.
 */
import type { CalibrationBin, ConfidenceInterval } from '../evaluate';
import type { CalibrationSummary } from '../evaluate/runMetrics';
import type { NamedFigure } from './screeningFigures';
import { lineChart, LineSeries } from './lineChart';
import { formatWithInterval } from './report';

export interface ScoreGroup {
  name: string;
  scores: number[];
}

/**
 * Histograms (share of each group's images per bin, drawn as step outlines so that groups of very
 * different sizes compare) and the threshold as a dashed vertical line.
 */
export function guardScoreHistogram(groups: ScoreGroup[], threshold: number, title: string, bins = 40): Buffer {
  const all = groups.flatMap((group) => group.scores).concat(threshold);
  const low = Math.min(...all);
  const high = Math.max(...all);
  const width = (high - low) / bins || 1;
  let tallest = 0;
  const series: LineSeries[] = groups.map((group) => {
    const counts = new Array<number>(bins).fill(0);
    for (const score of group.scores) counts[Math.min(bins - 1, Math.floor((score - low) / width))]++;
    const shares = counts.map((count) => count / Math.max(1, group.scores.length));
    tallest = Math.max(tallest, ...shares);
    const x: number[] = [];
    const y: number[] = [];
    shares.forEach((share, bin) => {
      x.push(low + bin * width, low + (bin + 1) * width);
      y.push(share, share);
    });
    return { name: `${group.name} (${group.scores.length})`, x: [low, ...x, high], y: [0, ...y, 0] };
  });
  const top = Math.min(1, tallest * 1.1) || 1;
  series.push({ name: `threshold ${threshold.toPrecision(4)}`, x: [threshold, threshold], y: [0, top], dashed: true });
  return lineChart({
    title,
    xLabel: 'guard score (higher: further from the training images)',
    yLabel: 'share of the group',
    series,
    xDomain: [low - width, high + width],
    yDomain: [0, top],
  });
}

export interface CalibrationSide {
  bins: CalibrationBin[];
  ece: ConfidenceInterval;
  brier: ConfidenceInterval;
}

/** Reliability diagram of the same images before and after temperature scaling. */
function reliabilityBeforeAfter(
  before: CalibrationSide,
  after: CalibrationSide,
  temperature: number,
  positive: string,
): Buffer {
  const side = (name: string, value: CalibrationSide): LineSeries => {
    const bins = value.bins.filter((bin) => bin.count > 0);
    return {
      name: `${name}: ECE ${formatWithInterval(value.ece)}, Brier ${formatWithInterval(value.brier)}`,
      x: bins.map((bin) => bin.meanPredicted),
      y: bins.map((bin) => bin.fractionPositive),
    };
  };
  return lineChart({
    title: `Calibration before and after temperature scaling (T = ${temperature.toFixed(3)})`,
    xLabel: `Mean predicted probability of ${positive}`,
    yLabel: `Observed fraction ${positive}`,
    series: [side('raw', before), side('calibrated', after)],
    xDomain: [0, 1],
    yDomain: [0, 1],
    diagonal: true,
  });
}

/** The before/after reliability diagram of a run's calibration summary, as a named figure. */
export function calibrationFigure(summary: CalibrationSummary, positive: string): NamedFigure {
  const side = (value: CalibrationSummary['before']): CalibrationSide => ({
    bins: value.bins,
    ece: value.expectedCalibrationError,
    brier: value.brierScore,
  });
  return {
    name: 'reliability-before-after',
    title: 'Calibration before and after temperature scaling',
    png: reliabilityBeforeAfter(side(summary.before), side(summary.after), summary.temperature, positive),
    caption: 'Temperature fitted on validation images; ECE and Brier with 95% bootstrap CIs on the evaluated images.',
  };
}
