/**
 * Stage 2 (notebook 06): the head of notebook 03 and the ImageNet conv5_block3 (or conv5 stage)
 * trained together at a low learning rate on cached block inputs, then evaluated like notebook 04
 * and saved to outputs/finetune/model, which predict / explain / evaluate accept with --model.
 */
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { currentBackend } from '../core/backend';
import { Config, resolveFeatureBatchSize } from '../core/config';
import { outputPaths } from '../core/paths';
import { UserFacingError } from '../core/errors';
import { describePreprocessing } from '../core/preprocessing';
import type { FeatureSet } from '../core/contracts';
import { imageSize } from '../core/contracts';
import { loadSplit, SplitName } from '../data/dataset';
import { weightsFingerprint, WeightsPaths } from '../backbone/weights';
import { loadHead, SavedModelInfo } from '../head/modelStore';
import type { TrainingResult } from '../head/train';
import { blockFromImagenet, checkBlockName, disposeBlock, TrainableBlock } from '../finetune/block';
import { BlockInputCache, blockInputsForSplit, BlockInputsResult, BlockInputSet } from '../finetune/blockInputs';
import { blockFeatures, checkFinetuneSettings, finetuneBlock, FinetuneSettings } from '../finetune/train';
import { saveFinetuned } from '../finetune/store';
import { TrunkEngine } from '../finetune/trunk';
import { createProgress } from '../view/progress';
import { liveTrainingView } from '../view/trainingView';

/** The training settings of config.finetune, checked (unknown block, learning rate <= 0: clear errors). */
export function finetuneSettings(config: Config): FinetuneSettings {
  checkBlockName(config.finetune.block);
  const settings: FinetuneSettings = {
    optimizer: config.finetune.optimizer,
    learningRate: config.finetune.learningRate,
    momentum: config.momentum,
    batchSize: config.finetune.batchSize,
    epochs: config.finetune.epochs,
    seed: config.seed,
    patience: config.finetune.patience,
    minDelta: 0,
    restoreBestWeights: config.finetune.restoreBestWeights,
    reduceFactor: config.finetune.reduceFactor,
    reducePatience: config.finetune.reducePatience,
  };
  checkFinetuneSettings(settings);
  // The block inputs are cached for the article's preprocessing only.
  if (config.preprocessing.mitigation !== 'none')
    throw new UserFacingError(
      `fine-tuning (notebook 06) supports only the article's preprocessing; this config switches on ` +
        `${describePreprocessing(config.preprocessing)}: set preprocessing.mitigation to 'none' (unset CXR_MITIGATION)`,
    );
  return settings;
}

/** The block inputs of the saved split: computed once on ONNX Runtime, then read from data/cache. */
export async function splitBlockInputs(config: Config, weights: WeightsPaths): Promise<BlockInputsResult> {
  const block = checkBlockName(config.finetune.block);
  const cache = BlockInputCache.open(config.cacheDir, block, weightsFingerprint(weights));
  return blockInputsForSplit(loadSplit(outputPaths(config).split), {
    openTrunk: () => TrunkEngine.create(weights, block),
    cache,
    batchSize: resolveFeatureBatchSize(config.featureBatchSize, currentBackend()),
    progress: createProgress,
  });
}

export interface FinetunedModel {
  block: TrainableBlock;
  head: tf.LayersModel;
  info: SavedModelInfo;
  result: TrainingResult;
}

/** Loads the head of outputs/model and the ImageNet block, and trains both (live charts in view). */
export async function finetuneModel(
  config: Config,
  weights: WeightsPaths,
  inputs: BlockInputsResult,
  headFolder = outputPaths(config).model,
): Promise<FinetunedModel> {
  const settings = finetuneSettings(config);
  const { head, info } = await loadHead(headFolder);
  const block = blockFromImagenet(config.finetune.block, weights.modelJson, weights.weightsBin);
  const view = liveTrainingView(`fine-tuning ${block.name}`, settings.epochs);
  try {
    const result = await finetuneBlock(block, head, inputs.sets.train, inputs.sets.validation, settings, view);
    return { block, head, info, result };
  } catch (error) {
    disposeBlock(block);
    head.dispose();
    throw error;
  } finally {
    view.finish();
  }
}

/** The ImageNet block (for head-only Grad-CAM on the same cached inputs). */
export function imagenetBlock(config: Config, weights: WeightsPaths): TrainableBlock {
  return blockFromImagenet(config.finetune.block, weights.modelJson, weights.weightsBin);
}

/** Pooled features of a split part through a block: what evaluateRun and the threshold choice take. */
export async function blockFeatureSet(block: TrainableBlock, set: BlockInputSet): Promise<FeatureSet> {
  return { features: await blockFeatures(block, set), labels: set.labels };
}

/** Saves block + head to outputs/finetune/model (atomic; block first, classifier.json last). */
export async function saveFinetunedModel(config: Config, model: FinetunedModel, threshold?: number): Promise<string> {
  const folder = outputPaths(config).finetune.model;
  await saveFinetuned(folder, model.block, model.head, {
    ...model.info,
    imageSize,
    threshold,
    trainedAt: new Date().toISOString(),
    validationLoss: undefined, // the head's, not this model's
    settings: { ...model.info.settings, finetune: config.finetune, headFrom: outputPaths(config).model },
  });
  return folder;
}

/** outputs/finetune/training.json: history, settings, split sizes and cache facts. */
export function saveFinetuneRun(
  config: Config,
  backend: string,
  model: FinetunedModel,
  inputs: BlockInputsResult,
): string {
  const file = outputPaths(config).finetune.training;
  const sizes = Object.fromEntries(
    (Object.keys(inputs.sets) as SplitName[]).map((name) => [name, inputs.sets[name].labels.length]),
  );
  writeJsonAtomicSync(file, {
    backend,
    block: model.block.name,
    settings: config.finetune,
    data: sizes,
    blockInputs: { computed: inputs.computed, reused: inputs.reused, seconds: inputs.seconds },
    ...model.result,
  });
  return file;
}
