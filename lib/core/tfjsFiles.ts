/** tfjs model files on disk: pure tfjs has no file:// loader, so model.json and its shards are read with fs. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { ModelFileError } from './errors';

/** Reads model.json and its weight files from disk with plain fs: pure tfjs has no file:// loader. */
export function fileSystemHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      let modelJson: {
        modelTopology: object;
        weightsManifest: tf.io.WeightsManifestConfig;
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
      };
      try {
        modelJson = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
      } catch (error) {
        throw new ModelFileError(`cannot read model.json (${(error as Error).message.split('\n')[0]})`, modelJsonPath);
      }
      const folder = modelJsonPath.slice(0, modelJsonPath.length - 'model.json'.length);
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of modelJson.weightsManifest ?? []) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) {
          const shardPath = folder + shard;
          if (!fs.existsSync(shardPath)) throw new ModelFileError('weight file missing', shardPath);
          buffers.push(fs.readFileSync(shardPath));
        }
      }
      const expectedBytes = weightSpecs.reduce((sum, spec) => sum + 4 * spec.shape.reduce((a, b) => a * b, 1), 0);
      const weightData = Buffer.concat(buffers);
      if (weightData.length !== expectedBytes) {
        throw new ModelFileError(
          `weights hold ${weightData.length} bytes, model.json describes ${expectedBytes}: the files are truncated ` +
            `or from another model`,
          folder,
        );
      }
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.length),
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
      };
    },
  };
}
