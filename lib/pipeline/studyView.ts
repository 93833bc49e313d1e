/**
 * What the study shows while it runs and after: the ranking table and the validation loss and
 * accuracy against the learning rate per optimizer, with the spread over seeds. The same figure
 * is saved to outputs/figures/study.png.
 */
import { Config } from '../core/config';
import { lineChart, LineSeries } from '../view/lineChart';
import { htmlTable, liveOutput, saveFigure } from '../view/display';
import { createProgress } from '../view/progress';
import { RankedSetting, rankStudy, StudyFile, StudyProgress, TrialSettings } from './study';

const fixed = (value: number, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** The ranking as an HTML table: validation first (what decides), test after (reported only). */
export function studyTable(rows: RankedSetting[], limit = 15): string {
  return htmlTable(
    ['rank', 'setting', 'seeds', 'val loss (mean ± sd)', 'val acc', 'epochs', 'test loss', 'test acc', 'test AUC'],
    rows
      .slice(0, limit)
      .map((row, index) => [
        index + 1,
        row.label,
        row.seeds.join(','),
        `${fixed(row.validationLoss.mean, 4)} ± ${fixed(row.validationLoss.sd, 4)}`,
        `${fixed(row.validationAccuracy.mean)} ± ${fixed(row.validationAccuracy.sd)}`,
        row.epochs.toFixed(1),
        fixed(row.test.loss, 4),
        fixed(row.test.accuracy),
        fixed(row.test.auc),
      ]),
  );
}

/** Settings other than the learning rate, so that each curve varies the rate alone. */
function curveName(settings: TrialSettings): string {
  const parts: string[] = [settings.optimizer];
  if (settings.dropout) parts.push(`dropout ${settings.dropout}`);
  if (settings.weightDecay) parts.push(`L2 ${settings.weightDecay}`);
  if (settings.headHiddenUnits.join(',') !== '512,512') parts.push(`[${settings.headHiddenUnits.join(',')}]`);
  return parts.join(', ');
}

/**
 * Validation loss (or accuracy) against log10(learning rate): one solid line per optimizer (mean
 * over seeds), dashed lines at mean ± sd; ensembles as their own line.
 */
export function studyChart(rows: RankedSetting[], metric: 'loss' | 'accuracy'): Buffer {
  const curves = new Map<string, RankedSetting[]>();
  for (const row of rows) {
    const name = `${curveName(row.settings)}${row.ensembleSize > 1 ? `, ensemble of ${row.ensembleSize}` : ''}`;
    curves.set(name, [...(curves.get(name) ?? []), row]);
  }
  const series: LineSeries[] = [];
  for (const [name, points] of curves) {
    points.sort((a, b) => a.settings.learningRate - b.settings.learningRate);
    const x = points.map((p) => Math.log10(p.settings.learningRate));
    const value = (p: RankedSetting) => (metric === 'loss' ? p.validationLoss : p.validationAccuracy);
    series.push({ name: `${name} (mean)`, x, y: points.map((p) => value(p).mean) });
    if (points[0].ensembleSize === 1 && points.some((p) => p.seeds.length > 1)) {
      series.push({
        name: `${name} + sd over seeds`,
        x,
        y: points.map((p) => value(p).mean + value(p).sd),
        dashed: true,
      });
      series.push({ name: `${name} - sd`, x, y: points.map((p) => value(p).mean - value(p).sd), dashed: true });
    }
  }
  return lineChart({
    title: `Study: validation ${metric} against the learning rate`,
    xLabel: 'log10(learning rate)',
    yLabel: `validation ${metric}`,
    series,
  });
}

/**
 * The live view of a running study: a progress bar, the table and the loss chart redrawn after
 * every trial. In a terminal only the progress bar shows (on stderr).
 */
export function liveStudyView(title = 'study'): StudyProgress & { finish(): void } {
  const table = liveOutput();
  const chart = liveOutput();
  let progress: ReturnType<typeof createProgress> | undefined;
  return {
    onTrial(study, done, total, trial, reused) {
      progress ??= createProgress(title, total);
      const what = `${reused ? 'reused' : 'trained'} seed ${trial.seed}: val loss ${trial.validation.loss.toFixed(4)}`;
      progress.update(done, what);
      const rows = rankStudy(study);
      table.html(studyTable(rows));
      chart.png(studyChart(rows, 'loss'));
    },
    finish() {
      progress?.finish();
    },
  };
}

/** Saves the study's figure (validation loss and accuracy side by side is two charts: loss is saved). */
export function saveStudyFigure(config: Config, study: StudyFile): string {
  return saveFigure(config, 'study', studyChart(rankStudy(study), 'loss'));
}
