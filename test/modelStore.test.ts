import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ModelFileError } from '../lib/core/errors';
import { buildHead } from '../lib/head/head';
import { loadHead, readModelInfo, saveHead, SavedModelInfo } from '../lib/head/modelStore';
import { createRandom } from '../lib/core/random';
import { temporaryFolder, tfReady } from './helpers';
import { predictHead } from '../lib/head/predict';

const info: SavedModelInfo = {
  classNames: ['COVID', 'NORMAL'],
  positiveClass: 0,
  weightsFingerprint: '570cbecaa0f1c7aa',
  preprocessing: 'keras-nearest-caffe-v1',
  imageSize: 224,
  threshold: 0.42,
  trainedAt: '2024-01-02T03:04:05.000Z',
  settings: { optimizer: 'adam', learningRate: 1e-3, epochs: 3 },
};

function randomFeatures(rows: number, seed: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: rows * 2048 }, () => random() * 8);
}

/** Asserts a ModelFileError whose message names `where` and matches `pattern`. */
async function assertModelFileError(promise: Promise<unknown>, where: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ModelFileError, `expected a ModelFileError, got ${String(error)}`);
    assert.ok(error.message.includes(where), `"${error.message}" should name ${where}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('modelStore: saving and loading the trained head', () => {
  let head: tf.LayersModel;
  let saved: string;
  const features = randomFeatures(5, 11);

  before(async () => {
    await tfReady();
    head = buildHead({ hiddenUnits: [512, 512], classCount: 2, seed: 42 });
    // Non-zero biases, so a loader that dropped them would be caught.
    const weights = head
      .getWeights()
      .map((weight, index) => (index % 2 === 1 ? tf.fill(weight.shape, 0.01 * index) : weight.clone()));
    head.setWeights(weights);
    tf.dispose(weights);
    saved = path.join(temporaryFolder('model-store'), 'model');
    await saveHead(saved, head, info);
  });
  after(() => head.dispose());

  /** A fresh copy of the saved folder to damage. */
  function copyOfSaved(): string {
    const copy = path.join(temporaryFolder('model-store'), 'model');
    fs.cpSync(saved, copy, { recursive: true });
    return copy;
  }

  it('writes model.json, weights.bin and classifier.json (and no temporary files)', () => {
    assert.deepEqual(fs.readdirSync(saved).sort(), ['classifier.json', 'model.json', 'weights.bin']);
    assert.equal(fs.statSync(path.join(saved, 'weights.bin')).size, 1_312_770 * 4);
    const modelJson = JSON.parse(fs.readFileSync(path.join(saved, 'model.json'), 'utf8'));
    assert.deepEqual(modelJson.weightsManifest[0].paths, ['weights.bin']);
    assert.deepEqual(readModelInfo(saved), info);
  });

  it('save -> load gives identical predictions, layers and info', async () => {
    const before = tf.memory().numTensors;
    const { head: loaded, info: loadedInfo } = await loadHead(saved);
    try {
      assert.deepEqual(loadedInfo, info);
      assert.deepEqual(
        loaded.layers.map((layer) => layer.name),
        ['pooled_features', 'fc1', 'fc2', 'predictions'],
      );
      assert.deepEqual(predictHead(loaded, features), predictHead(head, features));
      const [original, reloaded] = [head, loaded].map((model) => model.getWeights().map((weight) => weight.dataSync()));
      original.forEach((values, index) => assert.deepEqual(reloaded[index], values));
    } finally {
      loaded.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'loading and disposing leaves no tensors');
  });

  it('saving again over a folder replaces the model', async () => {
    const folder = copyOfSaved();
    const other = buildHead({ hiddenUnits: [8], classCount: 2, seed: 5 });
    try {
      await saveHead(folder, other, { ...info, threshold: undefined });
      const { head: loaded, info: loadedInfo } = await loadHead(folder);
      assert.equal(loadedInfo.threshold, undefined);
      assert.deepEqual(predictHead(loaded, features), predictHead(other, features));
      loaded.dispose();
    } finally {
      other.dispose();
    }
  });

  it('an interrupted re-save does not leave the old classifier.json beside new model files', async () => {
    const folder = copyOfSaved();
    // A head whose save fails half-way, after the folder was chosen.
    const failing = {
      save: async () => Promise.reject(new Error('disk full (simulated)')),
    } as unknown as tf.LayersModel;
    await assert.rejects(saveHead(folder, failing, { ...info, threshold: 0.9 }), /disk full/);
    await assertModelFileError(loadHead(folder), folder, /is not a complete saved model/);
  });

  it('a folder that does not exist is a ModelFileError naming it', async () => {
    const missing = path.join(temporaryFolder('model-store'), 'never-trained');
    await assertModelFileError(loadHead(missing), missing, /model folder not found; train one/);
    assert.throws(() => readModelInfo(missing), ModelFileError);
  });

  it('a folder without classifier.json (an interrupted save) is a ModelFileError naming the folder', async () => {
    const folder = copyOfSaved();
    fs.rmSync(path.join(folder, 'classifier.json'));
    await assertModelFileError(
      loadHead(folder),
      folder,
      /is not a complete saved model \(no classifier\.json\); train again/,
    );
  });

  it('an unreadable classifier.json is a clear error', async () => {
    const folder = copyOfSaved();
    fs.writeFileSync(path.join(folder, 'classifier.json'), '{"classNames": ["COVID",');
    await assertModelFileError(loadHead(folder), path.join(folder, 'classifier.json'), /cannot be read/);
  });

  it('a truncated weights.bin is a clear error, not a tfjs stack trace', async () => {
    const folder = copyOfSaved();
    const weights = path.join(folder, 'weights.bin');
    fs.truncateSync(weights, fs.statSync(weights).size - 1000);
    const before = tf.memory().numTensors;
    await assertModelFileError(
      loadHead(folder),
      folder,
      /weights hold 5250080 bytes, model\.json describes 5251080: the files are truncated or from another model/,
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it('a missing weights.bin or model.json is a clear error naming the file', async () => {
    const noWeights = copyOfSaved();
    fs.rmSync(path.join(noWeights, 'weights.bin'));
    await assertModelFileError(loadHead(noWeights), path.join(noWeights, 'weights.bin'), /weight file missing/);
    const noModel = copyOfSaved();
    fs.rmSync(path.join(noModel, 'model.json'));
    await assertModelFileError(loadHead(noModel), path.join(noModel, 'model.json'), /cannot read model\.json/);
  });

  it('classifier.json naming another number of classes than the model outputs is a clear error', async () => {
    const folder = copyOfSaved();
    writeInfo(folder, { ...info, classNames: ['COVID', 'NORMAL', 'PNEUMONIA'] });
    const before = tf.memory().numTensors;
    await assertModelFileError(
      loadHead(folder),
      folder,
      /the model has 2 outputs but classifier\.json names 3 classes/,
    );
    assert.equal(tf.memory().numTensors, before, 'the refused model is disposed');
  });

  it('a model.json that is not a layers model is a clear error', async () => {
    const folder = copyOfSaved();
    const modelJson = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
    modelJson.modelTopology = { nonsense: true };
    fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(modelJson));
    await assertModelFileError(loadHead(folder), folder, /cannot be loaded as a classifier head/);
  });
});

function writeInfo(folder: string, value: SavedModelInfo): void {
  fs.writeFileSync(path.join(folder, 'classifier.json'), JSON.stringify(value));
}
