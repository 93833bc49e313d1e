/**
 * Saving and loading the trained classifier head (tfjs layers format) with what is needed to use it
 * again: class names, the backbone weights it was trained on, preprocessing and training settings.
 * Files are written atomically, and a folder that is missing, partial or for other classes is a clear error.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync, writeJsonAtomicSync } from './atomic';
import { fileSystemHandler } from './backbone';
import { ModelFileError } from './errors';

export interface SavedModelInfo {
  classNames: string[];
  /** Index of the positive class for screening metrics (COVID). */
  positiveClass: number;
  weightsFingerprint: string;
  preprocessing: string;
  imageSize: number;
  /** Decision threshold on the positive class probability chosen on validation data, if any. */
  threshold?: number;
  trainedAt: string;
  settings: Record<string, unknown>;
}

const infoFile = 'classifier.json';

export async function saveHead(folder: string, head: tf.LayersModel, info: SavedModelInfo): Promise<void> {
  fs.mkdirSync(folder, { recursive: true });
  // Saving over an earlier model: its info goes first, so an interrupted save is seen as incomplete
  // instead of pairing the new weights with the old model's classes, threshold and settings.
  fs.rmSync(path.join(folder, infoFile), { force: true });
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
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.byteLength } };
    },
  });
  // Written last: a folder without it is an incomplete save.
  writeJsonAtomicSync(path.join(folder, infoFile), info);
}

export function readModelInfo(folder: string): SavedModelInfo {
  const infoPath = path.join(folder, infoFile);
  if (!fs.existsSync(folder)) throw new ModelFileError('model folder not found; train one with notebooks/03-train.ipynb or `npm start`', folder);
  if (!fs.existsSync(infoPath)) throw new ModelFileError(`is not a complete saved model (no ${infoFile}); train again`, folder);
  try {
    return JSON.parse(fs.readFileSync(infoPath, 'utf8')) as SavedModelInfo;
  } catch (error) {
    throw new ModelFileError(`cannot be read (${(error as Error).message})`, infoPath);
  }
}

export async function loadHead(folder: string): Promise<{ head: tf.LayersModel; info: SavedModelInfo }> {
  const info = readModelInfo(folder);
  let head: tf.LayersModel;
  try {
    head = await tf.loadLayersModel(fileSystemHandler(path.join(folder, 'model.json')));
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(`cannot be loaded as a classifier head (${(error as Error).message.split('\n')[0]})`, folder);
  }
  const outputs = head.outputs[0].shape[1];
  if (outputs !== info.classNames.length) {
    head.dispose();
    throw new ModelFileError(`the model has ${outputs} outputs but ${infoFile} names ${info.classNames.length} classes`, folder);
  }
  return { head, info };
}
