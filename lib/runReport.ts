/**
 * The run's HTML report, assembled from what the notebooks saved: metrics.json (notebook 04) and the
 * figures in outputs/figures (training curves, evaluation curves, and the Grad-CAM grid once notebook 05
 * has drawn it). Notebook 04 writes it, notebook 05 writes it again with the Grad-CAM grid.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Config, outputPaths } from './config';
import { ModelFileError } from './errors';
import type { ScreeningEvaluation } from './metrics';
import { ReportFigure, writeReport } from './report';

/** Figures in report order: file name in outputs/figures, and its title. */
const reportFigures: [string, string][] = [
  ['training-loss.png', 'Training loss per epoch'],
  ['training-accuracy.png', 'Training accuracy per epoch'],
  ['roc-curve.png', 'ROC curve'],
  ['precision-recall-curve.png', 'Precision-recall curve'],
  ['reliability-diagram.png', 'Reliability diagram'],
  ['confusion-matrix-argmax.png', 'Confusion matrix (argmax)'],
  ['confusion-matrix-chosen-threshold.png', 'Confusion matrix (threshold chosen on validation)'],
  ['gradcam-grid.png', 'Grad-CAM on conv5_block3_out: correctly classified NORMAL (top) and COVID-19 (bottom) test images'],
  ['samples.png', 'Sample training images'],
];

export interface RunMetrics {
  backend: string;
  engine: string;
  data: { train: number; validation: number; test: number; skipped: { file: string; reason: string }[] };
  test: { loss: number; accuracy: number; correct: number };
  model: { recipe: string; settings: Record<string, unknown>; threshold: number | null };
  timings: Record<string, number>;
  screening: ScreeningEvaluation;
}

export async function writeRunReport(config: Config): Promise<string> {
  const paths = outputPaths(config);
  if (!fs.existsSync(paths.metrics)) throw new ModelFileError('no metrics yet; run notebooks/04-evaluate.ipynb first', paths.metrics);
  const metrics = JSON.parse(fs.readFileSync(paths.metrics, 'utf8')) as RunMetrics;
  const figures: ReportFigure[] = reportFigures
    .filter(([file]) => fs.existsSync(path.join(paths.figures, file)))
    .map(([file, title]) => ({ title, png: fs.readFileSync(path.join(paths.figures, file)) }));
  await writeReport(paths.report, {
    title: 'COVID-19 vs NORMAL chest X-rays: ResNet50 transfer learning',
    generatedAt: new Date().toISOString(),
    settings: { ...metrics.model.settings, dataDir: config.dataDir, subsetPerClass: config.subsetPerClass },
    dataCounts: { train: metrics.data.train, validation: metrics.data.validation, test: metrics.data.test, skipped: metrics.data.skipped.length },
    backend: metrics.backend,
    engine: metrics.engine,
    timings: metrics.timings,
    metrics: metrics.screening,
    figures,
    notes: [
      `model.evaluate on the test images: loss ${metrics.test.loss.toFixed(4)}, accuracy ${metrics.test.accuracy.toFixed(4)} (article: 0.108 and 0.95)`,
      `training recipe "${metrics.model.recipe}"`,
      'The COVID-19 and NORMAL images come from different hospitals: a high score may partly reflect the source, not the disease.',
    ],
  });
  return paths.report;
}
