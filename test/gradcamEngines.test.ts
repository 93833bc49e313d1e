import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { createFeatureEngine } from '../lib/backbone/engine';
import { gradCam } from '../lib/explain/gradcam';
import { buildHead } from '../lib/head/head';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { realWeights, someXrays, tfReady } from './helpers';
import { convMapShape, FeatureEngine } from '../lib/core/contracts';

/**
 * Grad-CAM stays exact whichever engine computed conv5_block3_out: the gradient is always taken in
 * tfjs through pooling and the head, so only the activations differ, by float32 rounding (about
 * 1e-4 on values up to 50). Measured on these two X-rays: heatmaps (in [0, 1]) differ by at most
 * 9e-6. 1e-3 leaves a wide margin while a wrong map (another image, another class) differs by
 * more than 0.1.
 */
const heatmapTolerance = 1e-3;

describe('Grad-CAM: the same heatmaps from ONNX Runtime and tfjs activations', function () {
  this.timeout(120_000);
  let onnxEngine: FeatureEngine;
  let tfjsEngine: FeatureEngine;
  let head: tf.LayersModel;

  before(async () => {
    await tfReady();
    const weights = await realWeights();
    onnxEngine = await createFeatureEngine(weights, { engine: 'onnxruntime', log: () => undefined });
    tfjsEngine = await createFeatureEngine(weights, { engine: 'tfjs', log: () => undefined });
    head = buildHead({ hiddenUnits: [64, 32], classCount: 2, seed: 3 });
  });
  after(async () => {
    head?.dispose();
    await onnxEngine?.dispose();
    await tfjsEngine?.dispose();
  });

  for (const xray of someXrays(1)) {
    it(`${xray.file.split('/').slice(-1)[0]}: heatmaps agree for both classes (max |diff| < ${heatmapTolerance})`, async () => {
      const input = caffePreprocess((await loadImageRgb(xray.file)).rgb);
      const tensorsBefore = tf.memory().numTensors;
      const heatmaps: Float32Array[][] = [];
      for (const engine of [onnxEngine, tfjsEngine]) {
        const convMap = tf.tensor4d(await engine.convMaps(input, 1), [1, ...convMapShape]);
        heatmaps.push([0, 1].map((classIndex) => gradCam(convMap, head, classIndex).heatmap));
        convMap.dispose();
      }
      assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left behind');
      for (const classIndex of [0, 1]) {
        const [fromOnnx, fromTfjs] = [heatmaps[0][classIndex], heatmaps[1][classIndex]];
        let largest = 0;
        for (let i = 0; i < fromOnnx.length; i++) largest = Math.max(largest, Math.abs(fromOnnx[i] - fromTfjs[i]));
        assert.ok(largest < heatmapTolerance, `class ${classIndex}: heatmaps differ by ${largest}`);
      }
      // The comparison can fail: the two classes' maps of one image are far apart.
      let classDifference = 0;
      for (let i = 0; i < heatmaps[0][0].length; i++)
        classDifference = Math.max(classDifference, Math.abs(heatmaps[0][0][i] - heatmaps[0][1][i]));
      assert.ok(classDifference > 0.1, `class maps differ by only ${classDifference}`);
    });
  }
});
