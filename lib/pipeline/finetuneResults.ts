/**
 * Notebook 06's results: the fine-tuned model evaluated exactly like notebook 04 (threshold chosen
 * on validation, RunMetrics in outputs/finetune/metrics.json), the head-only model on the same test
 * images for comparison, and Grad-CAM of both on the same pictures.
 */
import * as tf from '@tensorflow/tfjs';
import { Config } from '../core/config';
import { outputPaths } from '../core/paths';
import type { FeatureSet } from '../core/contracts';
import { imageSize } from '../core/contracts';
import { absolutePath, DatasetSplit } from '../data/dataset';
import { loadImageRgb } from '../data/images';
import type { RunMetrics } from '../evaluate/runMetrics';
import { writeRunMetrics } from '../evaluate/runMetrics';
import { gradCam, overlayHeatmap } from '../explain/gradcam';
import type { SavedModelInfo } from '../head/modelStore';
import type { TrainingResult } from '../head/train';
import { blockForward, blockLayout, TrainableBlock } from '../finetune/block';
import { batchTensor, BlockInputSet } from '../finetune/blockInputs';
import type { GridImage, GridRow } from '../view/imageGrid';
import { saveFigure } from '../view/display';
import { formatWithInterval } from '../view/report';
import { historyCharts } from '../view/trainingView';
import { chooseValidationThreshold, evaluateRun } from './evaluate';

export interface ModelToEvaluate {
  folder: string;
  head: tf.LayersModel;
  info: SavedModelInfo;
}

/** evaluateRun on the test set with the threshold chosen on validation (as notebook 04). */
export function evaluateOnTest(
  config: Config,
  model: ModelToEvaluate,
  sets: { validation: FeatureSet; test: FeatureSet; trainCount: number },
  description: { backend: string; engine: string; notes?: string[] },
): RunMetrics {
  const chosen = chooseValidationThreshold(model.head, model.info, sets.validation, config.thresholdRule);
  const { metrics } = evaluateRun({
    model,
    evaluated: sets.test,
    kind: 'test split',
    found: sets.test.labels.length,
    skipped: [],
    features: { computed: 0, reused: sets.test.labels.length, engines: {} },
    backend: description.backend,
    engine: description.engine,
    chosen,
    headline: 'default',
    bootstrap: { resamples: config.bootstrapResamples, seed: config.seed },
    settings: { ...model.info.settings, dataDir: config.dataDir, seed: config.seed },
    split: { train: sets.trainCount, validation: sets.validation.labels.length, test: sets.test.labels.length },
    notes: description.notes,
  });
  return metrics;
}

export function writeFinetuneMetrics(config: Config, metrics: RunMetrics): string {
  const file = outputPaths(config).finetune.metrics;
  writeRunMetrics(file, metrics);
  return file;
}

/** Rows of the head-only vs fine-tuned table: value (95% bootstrap interval), threshold 0.5. */
export function comparisonRows(runs: Record<string, RunMetrics>): (string | number)[][] {
  return Object.entries(runs).map(([name, run]) => {
    const ci = run.metrics.atDefaultThreshold.confidenceIntervals;
    return [
      name,
      formatWithInterval(ci.accuracy),
      run.test.loss.toFixed(3),
      formatWithInterval(ci.auc),
      formatWithInterval(ci.sensitivity),
      formatWithInterval(ci.specificity),
    ];
  });
}
export const comparisonHeader = ['model', 'test accuracy', 'test loss', 'ROC AUC', 'sensitivity', 'specificity'];

export function saveFinetuneFigures(config: Config, result: TrainingResult, title: string): void {
  const charts = historyCharts(result.history, title);
  saveFigure(config, 'finetune-loss', charts.loss);
  saveFigure(config, 'finetune-accuracy', charts.accuracy);
}

/** conv5_block3_out of one cached test image through a block, [1, 7, 7, 2048]. */
function blockConvMap(block: TrainableBlock, set: BlockInputSet, row: number): tf.Tensor4D {
  return tf.tidy(() => blockForward(block, batchTensor(set, [row], blockLayout[block.name].inputShape)));
}

/**
 * Grad-CAM (the article's recipe, lib/explain gradCam) of the same test images under each model:
 * per class, one row per model, the first `perRow` test images of that class.
 */
export async function gradCamComparison(
  split: Pick<DatasetSplit, 'root'>,
  test: BlockInputSet,
  models: { label: string; block: TrainableBlock; head: tf.LayersModel }[],
  classNames: string[],
  perRow: number,
): Promise<GridRow[]> {
  const rows: GridRow[] = [];
  for (const [classIndex, className] of classNames.entries()) {
    const pictures = test.images
      .map((image, row) => ({ image, row }))
      .filter(({ image }) => image.label === classIndex)
      .slice(0, perRow);
    for (const model of models) {
      const cells: GridImage[] = [];
      for (const { image, row } of pictures) {
        const picture = await loadImageRgb(absolutePath(split.root, image));
        const convMap = blockConvMap(model.block, test, row);
        const cam = gradCam(convMap, model.head, classIndex, imageSize);
        convMap.dispose();
        const name = image.file.split('/').pop();
        cells.push({
          rgb: overlayHeatmap(picture.rgb, cam.heatmap, imageSize),
          width: imageSize,
          height: imageSize,
          caption: `${name}\nP(${className}) = ${cam.probabilities[classIndex].toFixed(3)}`,
        });
      }
      rows.push({ label: `${className}, ${model.label}`, images: cells });
    }
  }
  return rows;
}
