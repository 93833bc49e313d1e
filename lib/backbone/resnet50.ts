/**
 * The frozen ResNet50 backbone as a tfjs LayersModel, loaded from the converted weights
 * (input: caffe-preprocessed 224x224x3, output: conv5_block3_out 7x7x2048).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { featureLength } from '../core/contracts';
import { ModelFileError } from '../core/errors';
import { fileSystemHandler } from '../core/tfjsFiles';
import { WeightsPaths } from './weights';

export async function loadBackbone(paths: WeightsPaths): Promise<tf.LayersModel> {
  if (!fs.existsSync(paths.modelJson))
    throw new ModelFileError('missing; run `npm run setup` to fetch the ImageNet weights', paths.modelJson);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(fileSystemHandler(paths.modelJson));
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(
      `cannot be loaded as the ResNet50 model (${(error as Error).message.split('\n')[0]})`,
      paths.modelJson,
    );
  }
  model.trainable = false;
  return model;
}

/** The ImageNet classifier kept aside at conversion: logits = pooled . kernel + bias. */
export function loadImagenetTop(paths: WeightsPaths): { kernel: tf.Tensor2D; bias: tf.Tensor1D; labels: string[] } {
  const bytes = fs.readFileSync(paths.imagenetTopBin);
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (values.length !== featureLength * 1000 + 1000)
    throw new ModelFileError('has an unexpected size', paths.imagenetTopBin);
  const labelMap = JSON.parse(fs.readFileSync(paths.imagenetLabels, 'utf8')) as Record<string, string>;
  const labels = Array.from({ length: 1000 }, (_, i) => labelMap[String(i)]);
  return {
    kernel: tf.tensor2d(values.subarray(0, featureLength * 1000), [featureLength, 1000]),
    bias: tf.tensor1d(values.subarray(featureLength * 1000)),
    labels,
  };
}
