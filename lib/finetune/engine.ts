/**
 * The fine-tuned model as a feature engine, so predict / explain / evaluate and Grad-CAM use it
 * unchanged: the frozen trunk (ONNX Runtime, or tfjs) up to the block's input, then the fine-tuned
 * block on tfjs. convMaps is conv5_block3_out of the fine-tuned block (Grad-CAM's layer), and
 * pooledFeatures its global average, which the saved head takes.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../core/backend';
import type { BackendName, EngineName } from '../core/config';
import { featureLength, type FeatureEngine } from '../core/contracts';
import { OnnxRuntimeUnavailableError } from '../backbone/onnxEngine';
import type { WeightsPaths } from '../backbone/weights';
import { blockForward, blockLayout, disposeBlock, TrainableBlock } from './block';
import { loadFinetunedBlock } from './store';
import { TfjsTrunk, Trunk, TrunkEngine } from './trunk';

class FinetunedFeatureEngine implements FeatureEngine {
  readonly description: string;

  constructor(
    readonly name: EngineName,
    private readonly trunk: Trunk,
    private readonly block: TrainableBlock,
  ) {
    this.description = `${trunk.description}, then the fine-tuned ${block.name} on tfjs (${tf.getBackend()})`;
  }

  private async maps(input: Float32Array, count: number): Promise<tf.Tensor4D> {
    const [h, w, c] = blockLayout[this.block.name].inputShape;
    const values = await this.trunk.blockInputs(input, count);
    return tf.tidy(() => blockForward(this.block, tf.tensor4d(values, [count, h, w, c])));
  }

  async pooledFeatures(input: Float32Array, count: number): Promise<Float32Array> {
    const maps = await this.maps(input, count);
    const pooled = tf.tidy(() => tf.mean(maps, [1, 2]));
    maps.dispose();
    const values = (await pooled.data()) as Float32Array;
    pooled.dispose();
    if (values.length !== count * featureLength)
      throw new Error(`expected ${count * featureLength} features, got ${values.length}`);
    return values;
  }

  async convMaps(input: Float32Array, count: number): Promise<Float32Array> {
    const maps = await this.maps(input, count);
    const values = (await maps.data()) as Float32Array;
    maps.dispose();
    return values;
  }

  async dispose(): Promise<void> {
    await this.trunk.dispose();
    disposeBlock(this.block);
  }
}

/** Opens the fine-tuned model's engine: ONNX Runtime for the trunk unless tfjs is forced or ORT cannot load. */
export async function createFinetunedEngine(
  paths: WeightsPaths,
  modelFolder: string,
  options: { engine?: EngineName; backend?: BackendName; log?: (line: string) => void } = {},
): Promise<FinetunedFeatureEngine> {
  const log = options.log ?? console.log;
  await initBackend(options.backend, log);
  const { block } = loadFinetunedBlock(modelFolder);
  let trunk: Trunk | undefined;
  let name: EngineName = 'onnxruntime';
  if (options.engine !== 'tfjs') {
    try {
      trunk = await TrunkEngine.create(paths, block.name);
    } catch (error) {
      if (options.engine === 'onnxruntime' || !(error instanceof OnnxRuntimeUnavailableError)) {
        disposeBlock(block);
        throw error;
      }
      log(`feature engine: ${error.message}; falling back to tfjs`);
    }
  }
  if (!trunk) {
    trunk = await TfjsTrunk.create(paths, block.name);
    name = 'tfjs';
  }
  const engine = new FinetunedFeatureEngine(name, trunk, block);
  log(`feature engine: ${engine.description}`);
  return engine;
}
