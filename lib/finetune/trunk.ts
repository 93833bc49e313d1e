/**
 * The frozen part below the unfrozen block, on ONNX Runtime: the project's ResNet50 graph
 * (kerasToOnnx.ts) with the block's input (conv5_block2_out or conv4_block6_out) as an extra
 * output. Built in memory from the converted weights (about 2 s), so the shared backbone.onnx
 * is left as it is.
 */
import * as fs from 'fs';
import * as os from 'os';
import type * as OnnxRuntime from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { imageValues } from '../core/contracts';
import { loadBackbone } from '../backbone/resnet50';
import { ModelFileError } from '../core/errors';
import { kerasResnetToOnnx } from '../backbone/kerasToOnnx';
import { KerasModelJson } from '../backbone/kerasWeights';
import { onnxInputName } from '../backbone/onnxGraph';
import { cpuSession, loadOnnxRuntime } from '../backbone/onnxEngine';
import type { WeightsPaths } from '../backbone/weights';
import { blockLayout, FinetuneBlock } from './block';

/** Computes the unfrozen block's input from preprocessed images. */
export interface Trunk {
  readonly description: string;
  readonly outputName: string;
  readonly valuesPerImage: number;
  blockInputs(input: Float32Array, count: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** The same trunk on tfjs: the backbone cut at the block's input (slow; for checks and machines without ORT). */
export class TfjsTrunk implements Trunk {
  readonly description: string;
  readonly valuesPerImage: number;

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly backbone: tf.LayersModel,
    readonly outputName: string,
  ) {
    this.description = `tfjs (${tf.getBackend()}) up to ${outputName}`;
    const [, h, w, c] = model.outputs[0].shape as number[];
    this.valuesPerImage = h * w * c;
  }

  static async create(paths: WeightsPaths, block: FinetuneBlock): Promise<TfjsTrunk> {
    const backbone = await loadBackbone(paths);
    const outputName = blockLayout[block].input;
    const model = tf.model({
      inputs: backbone.inputs,
      outputs: backbone.getLayer(outputName).output as tf.SymbolicTensor,
    });
    return new TfjsTrunk(model, backbone, outputName);
  }

  async blockInputs(input: Float32Array, count: number): Promise<Float32Array> {
    const output = tf.tidy(
      () => this.model.predict(tf.tensor4d(input.subarray(0, count * imageValues), [count, 224, 224, 3])) as tf.Tensor,
    );
    const values = (await output.data()) as Float32Array;
    output.dispose();
    return values;
  }

  async dispose(): Promise<void> {
    this.backbone.dispose();
  }
}

export class TrunkEngine implements Trunk {
  readonly description: string;

  private constructor(
    private readonly ort: typeof OnnxRuntime,
    private readonly session: OnnxRuntime.InferenceSession,
    readonly outputName: string,
    readonly valuesPerImage: number,
    threads: number,
  ) {
    this.description = `onnxruntime (cpu, ${threads} thread${threads === 1 ? '' : 's'}) up to ${outputName}`;
  }

  static async create(paths: WeightsPaths, block: FinetuneBlock, threads = os.cpus().length): Promise<TrunkEngine> {
    const ort = loadOnnxRuntime();
    const layout = blockLayout[block];
    let bytes: Uint8Array;
    try {
      const modelJson = JSON.parse(fs.readFileSync(paths.modelJson, 'utf8')) as KerasModelJson;
      bytes = kerasResnetToOnnx(modelJson, fs.readFileSync(paths.weightsBin), 'lib/finetune/trunk.ts', [layout.input]);
    } catch (error) {
      if (error instanceof ModelFileError) throw error;
      throw new ModelFileError(
        `cannot build the frozen trunk (${(error as Error).message.split('\n')[0]})`,
        paths.modelJson,
      );
    }
    const session = await cpuSession(ort, bytes, threads, 'trunk session');
    const [h, w, c] = layout.inputShape;
    return new TrunkEngine(ort, session, layout.input, h * w * c, threads);
  }

  /** count caffe-preprocessed images (NHWC) -> the block's input, count x H x W x C (NHWC). */
  async blockInputs(input: Float32Array, count: number): Promise<Float32Array> {
    const data = input.length === count * imageValues ? input : input.subarray(0, count * imageValues);
    const tensor = new this.ort.Tensor('float32', data, [count, 224, 224, 3]);
    const results = await this.session.run({ [onnxInputName]: tensor }, [this.outputName]);
    const values = results[this.outputName].data as Float32Array;
    if (values.length !== count * this.valuesPerImage)
      throw new Error(`expected ${count * this.valuesPerImage} values from ${this.outputName}, got ${values.length}`);
    return values;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
