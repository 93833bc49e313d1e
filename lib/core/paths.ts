/** Every file a run writes and every cache, by name: the contract between steps (outputs/README.md). */
import * as path from 'path';

/** Every figure a run saves, by name: the file is outputs/figures/<name>.png. */
export const figureNames = [
  'samples',
  'training-loss',
  'training-accuracy',
  'roc-curve',
  'precision-recall-curve',
  'reliability-diagram',
  'reliability-before-after',
  'guard-scores',
  'confusion-matrix-argmax',
  'confusion-matrix-chosen-threshold',
  'gradcam-grid',
  'cam-methods-grid',
  'deletion-curves',
  'insertion-curves',
  'cam-energy-histogram',
  'finetune-loss',
  'finetune-accuracy',
  'finetune-gradcam-grid',
  'study',
  'robustness',
] as const;
export type FigureName = (typeof figureNames)[number];

/** Where a run's products go, all under config.outputsDir (outputs/README.md lists them). */
export function outputPaths(config: { outputsDir: string }) {
  const folder = config.outputsDir;
  const figures = path.join(folder, 'figures');
  return {
    folder,
    /** Which file went to which split, with the data root: the only source of the data folder after notebook 01. */
    split: path.join(folder, 'split.json'),
    leakage: path.join(folder, 'leakage.json'),
    model: path.join(folder, 'model'),
    /** The model the last training replaced (or the better one before it): see saveModel. */
    previousModel: path.join(folder, 'model.previous'),
    /** Notebook 06: the fine-tuned block + head, its metrics and training history. */
    finetune: {
      folder: path.join(folder, 'finetune'),
      model: path.join(folder, 'finetune', 'model'),
      metrics: path.join(folder, 'finetune', 'metrics.json'),
      predictions: path.join(folder, 'finetune', 'test-predictions.json'),
      training: path.join(folder, 'finetune', 'training.json'),
      /** npm run finetune-study: candidate settings by validation loss, then the chosen one over seeds. */
      study: path.join(folder, 'finetune', 'study.json'),
    },
    training: path.join(folder, 'training.json'),
    metrics: path.join(folder, 'metrics.json'),
    predictions: path.join(folder, 'test-predictions.json'),
    /** The hyperparameter study: every trial, rewritten atomically after each (npm run study, notebook 03b). */
    study: path.join(folder, 'study.json'),
    /** The chosen recipe over several split seeds (notebook 03b). */
    robustness: path.join(folder, 'robustness.json'),
    /** npm run mitigations: each shortcut mitigation over split seeds and in the shortcut audit (notebook 05). */
    mitigations: path.join(folder, 'mitigations.json'),
    report: path.join(folder, 'report.html'),
    figures,
    figure: (name: FigureName) => path.join(figures, `${name}.png`),
    notebooks: path.join(folder, 'notebooks'),
    bench: path.join(folder, 'bench'),
    /** Notebook 05: faithfulness, sanity checks and the shortcut audit of every CAM method. */
    explanations: path.join(folder, 'explanations.json'),
    /** npm run int8-gates: the int8 backbone against float32. */
    int8Gates: path.join(folder, 'int8', 'gates.json'),
    /** npm run explain: <image name>-<method>.png */
    explain: path.join(folder, 'explain'),
    /** npm run evaluate: one folder per external data set. */
    external: path.join(folder, 'external'),
  };
}

/**
 * What one evaluation writes into its folder: outputs/external/<data folder>/ for `npm run
 * evaluate` (or its --out).
 */
export function evaluationPaths(folder: string) {
  const figures = path.join(folder, 'figures');
  return {
    folder,
    metrics: path.join(folder, 'metrics.json'),
    predictions: path.join(folder, 'predictions.json'),
    report: path.join(folder, 'report.html'),
    figures,
    figure: (name: FigureName) => path.join(figures, `${name}.png`),
  };
}

/** Caches under config.cacheDir: derived data that can be deleted at any time. */
export function cachePaths(config: { cacheDir: string }) {
  return {
    folder: config.cacheDir,
    /** Leakage guard: dHash and thumbnail per image file content. */
    imageSignatures: path.join(config.cacheDir, 'image-signatures-v1.bin'),
  };
}
