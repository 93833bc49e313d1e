/**
 * Saving and loading the trained classifier head (tfjs layers format) with what is needed to use it
 * again: class names, the backbone weights it was trained on, preprocessing and training settings.
 * Files are written atomically, and a folder that is missing, partial or for other classes is a clear error.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync, writeJsonAtomicSync } from '../core/atomic';
import { classKey } from '../core/classes';
import { featureLength } from '../core/contracts';
import { ModelFileError } from '../core/errors';
import type { PreprocessingSettings } from '../core/preprocessing';
import { fileSystemHandler } from '../core/tfjsFiles';
import { guardFile, readGuardFiles, SavedGuard, writeGuardFiles } from './guardStore';
import type { Guard } from './ood';
// Registers the head's own layers (SeededDropout) so that a saved head with dropout loads.
import './head';

export interface SavedModelInfo {
  classNames: string[];
  /** Index of the positive class for screening metrics (COVID). */
  positiveClass: number;
  weightsFingerprint: string;
  /** The preprocessing's name (core/preprocessing.ts preprocessingName); the article's for older models. */
  preprocessing: string;
  /** The preprocessing settings the head was trained with (shortcut mitigation); absent in older models. */
  preprocessingSettings?: PreprocessingSettings;
  imageSize: number;
  /** Decision threshold on the positive class probability chosen on validation data, if any. */
  threshold?: number;
  /** Temperature dividing the logits, fitted on validation data (calibration), if any. */
  temperature?: number;
  /** The out-of-distribution guard's file (guard.json), once one is saved; older models have none. */
  guard?: string;
  trainedAt: string;
  /** Digest of the split.json it was trained on (lib/core/provenance); absent in older models. */
  split?: string;
  /** The saved head's validation loss (cross-entropy, raw probabilities) when it was saved. */
  validationLoss?: number;
  settings: Record<string, unknown>;
}

const infoFile = 'classifier.json';

export async function saveHead(folder: string, head: tf.LayersModel, info: SavedModelInfo): Promise<void> {
  fs.mkdirSync(folder, { recursive: true });
  // Saving over an earlier model: its info goes first, so an interrupted save is seen as incomplete
  // instead of pairing the new weights with the old model's classes, threshold and settings.
  fs.rmSync(path.join(folder, infoFile), { force: true });
  fs.rmSync(path.join(folder, guardFile), { force: true }); // the old model's guard does not fit the new one
  await head.save({
    save: async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      writeFileAtomicSync(path.join(folder, 'weights.bin'), new Uint8Array(weightData));
      writeJsonAtomicSync(path.join(folder, 'model.json'), {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      });
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    },
  });
  // Written last: a folder without it is an incomplete save.
  writeJsonAtomicSync(path.join(folder, infoFile), info);
}

/** Checks classifier.json beyond parsing: class names, positive class and threshold that make sense. */
function checkModelInfo(info: SavedModelInfo, folder: string): void {
  if (info === null || typeof info !== 'object')
    throw new ModelFileError(`${infoFile} does not hold a model description`, folder);
  const names = info.classNames;
  if (!Array.isArray(names) || names.length < 2 || names.some((name) => typeof name !== 'string' || name === '')) {
    throw new ModelFileError(`${infoFile} must list at least two class names in "classNames"`, folder);
  }
  const keys = names.map(classKey);
  const duplicate = names.find((_, index) => keys.indexOf(keys[index]) !== index);
  if (duplicate !== undefined) throw new ModelFileError(`${infoFile} names the class "${duplicate}" twice`, folder);
  const positive = info.positiveClass;
  if (!Number.isInteger(positive) || positive < 0 || positive >= names.length) {
    const shown = JSON.stringify(positive);
    throw new ModelFileError(`${infoFile} has positiveClass ${shown}, not an index of ${names.join(', ')}`, folder);
  }
  const threshold = info.threshold as unknown;
  if (
    threshold !== undefined &&
    threshold !== null &&
    !(typeof threshold === 'number' && threshold >= 0 && threshold <= 1)
  ) {
    const shown = JSON.stringify(threshold);
    throw new ModelFileError(`${infoFile} has threshold ${shown}; expected a probability from 0 to 1`, folder);
  }
  if (threshold === null) delete info.threshold;
  const temperature = info.temperature as unknown;
  if (
    temperature !== undefined &&
    !(typeof temperature === 'number' && temperature > 0 && Number.isFinite(temperature))
  ) {
    const shown = JSON.stringify(temperature);
    throw new ModelFileError(`${infoFile} has temperature ${shown}; expected a positive number`, folder);
  }
}

/**
 * Reads and checks classifier.json without loading anything heavy: a wrong folder fails in well
 * under a second.
 */
export function readModelInfo(folder: string): SavedModelInfo {
  const infoPath = path.join(folder, infoFile);
  if (!fs.existsSync(folder))
    throw new ModelFileError('model folder not found; train one with notebooks/03-train.ipynb or `npm start`', folder);
  if (!fs.statSync(folder).isDirectory()) {
    throw new ModelFileError(
      `is a file; a model is the folder it was saved to (with ${infoFile}, model.json and weights.bin)`,
      folder,
    );
  }
  if (!fs.existsSync(infoPath))
    throw new ModelFileError(`is not a complete saved model (no ${infoFile}); train again`, folder);
  let info: SavedModelInfo;
  try {
    info = JSON.parse(fs.readFileSync(infoPath, 'utf8')) as SavedModelInfo;
  } catch (error) {
    throw new ModelFileError(`cannot be read (${(error as Error).message})`, infoPath);
  }
  checkModelInfo(info, folder);
  return info;
}

/** readModelInfo, and the weight files are there too: what commands check before loading anything. */
export function checkModelFolder(folder: string): SavedModelInfo {
  const info = readModelInfo(folder);
  for (const file of ['model.json', 'weights.bin']) {
    if (!fs.existsSync(path.join(folder, file)))
      throw new ModelFileError(`is not a complete saved model (no ${file}); train again`, folder);
  }
  return info;
}

/** Changes some fields of a saved model's classifier.json (e.g. the threshold chosen on validation data). */
export function updateModelInfo(folder: string, changes: Partial<SavedModelInfo>): SavedModelInfo {
  const info = { ...readModelInfo(folder), ...changes };
  writeJsonAtomicSync(path.join(folder, infoFile), info);
  return info;
}

export async function loadHead(folder: string): Promise<{ head: tf.LayersModel; info: SavedModelInfo }> {
  const info = readModelInfo(folder);
  let head: tf.LayersModel;
  try {
    head = await tf.loadLayersModel(fileSystemHandler(path.join(folder, 'model.json')));
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(
      `cannot be loaded as a classifier head (${(error as Error).message.split('\n')[0]})`,
      folder,
    );
  }
  const inputShape = head.inputs[0]?.shape;
  if (!inputShape || inputShape.length !== 2 || inputShape[1] !== featureLength) {
    head.dispose();
    const shown = JSON.stringify(inputShape);
    throw new ModelFileError(
      `its network takes input ${shown}, not the ${featureLength} pooled ResNet50 features: it is not a head for ` +
        `this backbone`,
      folder,
    );
  }
  const outputs = head.outputs[0].shape[1];
  if (outputs !== info.classNames.length) {
    head.dispose();
    throw new ModelFileError(
      `the model has ${outputs} outputs but ${infoFile} names ${info.classNames.length} classes`,
      folder,
    );
  }
  return { head, info };
}

/** Saves the out-of-distribution guard beside the model and names it in classifier.json. */
export function saveGuard(folder: string, guard: Guard): SavedModelInfo {
  const info = readModelInfo(folder);
  writeGuardFiles(folder, guard, info.weightsFingerprint);
  return updateModelInfo(folder, { guard: guardFile });
}

/**
 * The model's guard, or undefined for a model saved before guards existed ("guard unavailable").
 * A guard named in classifier.json but missing, damaged or made for other weights is an error.
 */
export function loadGuard(folder: string, info: SavedModelInfo = readModelInfo(folder)): SavedGuard | undefined {
  if (!info.guard) return undefined;
  return readGuardFiles(folder, info.weightsFingerprint);
}
