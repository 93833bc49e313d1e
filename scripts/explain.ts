/**
 * `npm run explain -- <image> [--method gradcam|gradcam++|hirescam|eigencam|occlusion] [--out file.png]
 *   [--model outputs/model] [--class COVID|NORMAL]`
 *
 * Grad-CAM as in the article (the default method; the others are in lib/explain/cams.ts): the frozen
 * backbone's conv5_block3_out map (from the feature engine),
 * the gradient of the class score through the trained head (tfjs, lib/gradcam.ts), the JET heatmap
 * laid over the 224x224 image the model saw. Written as PNG (default
 * outputs/explain/<image name>-gradcam.png); prints the path and the class probabilities.
 * The class explained is the predicted one unless --class names another. The picture carries a
 * banner with the (calibrated) probabilities, the out-of-distribution guard's verdict and the input
 * checks' warnings, so it is never shown without its caveats.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync } from '../lib/core/atomic';
import { annotatedPng, PictureNote } from '../lib/view/annotate';
import { UserFacingError } from '../lib/core/errors';
import { camMethodLabels, camMethodNames, CamMethodName, convCam, finishCam } from '../lib/explain/cams';
import { gradCam, overlayHeatmap } from '../lib/explain/gradcam';
import { occlusionMap } from '../lib/explain/perturbation';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { checkInputImage } from '../lib/data/inputChecks';
import { matchClass } from '../lib/core/classes';
import { outputPaths } from '../lib/core/paths';
import { convMapShape, imageSize } from '../lib/core/contracts';
import { checkModelFolder } from '../lib/head/modelStore';
import { decide } from '../lib/head/predict';
import { openBackbone } from '../lib/pipeline/backbone';
import { openModel, withModelPreprocessing } from '../lib/pipeline/model';
import { screenFeatures } from '../lib/pipeline/safeguards';
import {
  CommandSpec,
  commonFlags,
  configFromArgs,
  displayPath,
  main,
  modelFolderFromArgs,
  note,
  printResult,
  stringFlag,
  UsageError,
  warnIfWeightsDiffer,
} from './cli';

const spec: CommandSpec = {
  name: 'explain',
  summary:
    'Writes the Grad-CAM overlay of one chest X-ray (where the model looked) as a PNG and prints the class ' +
    'probabilities.',
  positionals: { label: '<image>', min: 1, max: 1 },
  flags: [
    {
      name: 'out',
      value: 'file.png',
      description:
        'where to write the overlay (default: outputs/explain/<image name>-gradcam.png; a folder: <folder>/<image ' +
        'name>-gradcam.png)',
    },
    {
      name: 'method',
      value: 'name',
      choices: [...camMethodNames],
      description: `how the map is made (default: gradcam, the article's); occlusion costs one backbone pass per patch position`,
    },
    {
      name: 'class',
      value: 'name',
      description: 'class to explain, e.g. COVID or NORMAL (default: the predicted class)',
    },
    ...commonFlags,
  ],
};

function outputPath(requested: string | undefined, image: string, explainDir: string, method: string): string {
  const name = `${path.basename(image, path.extname(image))}-${method}.png`;
  if (requested === undefined) return path.join(explainDir, name);
  const resolved = path.resolve(requested);
  if (
    requested.endsWith('/') ||
    requested.endsWith(path.sep) ||
    (fs.existsSync(resolved) && fs.statSync(resolved).isDirectory())
  )
    return path.join(resolved, name);
  if (path.extname(resolved).toLowerCase() !== '.png')
    throw new UsageError(`--out must name a .png file or a folder, not "${requested}"`, spec);
  return resolved;
}

main(spec, async (args) => {
  const argsConfig = configFromArgs(args);
  const modelFolder = modelFolderFromArgs(args, argsConfig);
  const info = checkModelFolder(modelFolder);
  // The preprocessing the model was trained with (a shortcut mitigation), unless CXR_MITIGATION says otherwise.
  const config = withModelPreprocessing(argsConfig, info);
  const requestedClass = stringFlag(args, 'class');
  let classIndex: number | undefined;
  if (requestedClass !== undefined) {
    classIndex = matchClass(requestedClass, info.classNames);
    if (classIndex < 0)
      throw new UserFacingError(
        `--class "${requestedClass}" is not a class of the model in ${displayPath(modelFolder)}; choose one of ` +
          `${info.classNames.join(', ')}`,
      );
  }
  const imageFile = args.positionals[0];
  const method = (stringFlag(args, 'method') ?? 'gradcam') as CamMethodName;
  const out = outputPath(stringFlag(args, 'out'), imageFile, outputPaths(config).explain, method);
  const size = imageSize;
  // Decoded first: an unreadable image fails before the backbone is loaded.
  const image = await loadImageRgb(imageFile, size, config.preprocessing);
  const { warnings } = await checkInputImage(imageFile);

  const model = await openModel(modelFolder, config, note, info);
  const { weights, engine } = await openBackbone(config, note, modelFolder);
  warnIfWeightsDiffer(model, weights);
  const input = caffePreprocess(image.rgb);
  let convMap: tf.Tensor4D | undefined;
  try {
    convMap = tf.tensor4d(await engine.convMaps(input, 1), [1, ...convMapShape]);
    const pooled = tf.tidy(() => tf.mean(convMap!, [1, 2]).dataSync() as Float32Array);
    const screened = screenFeatures(model, pooled);
    const probabilities = screened.probabilities[0];
    const verdict = screened.guard?.[0];
    const threshold = info.classNames.length === 2 ? info.threshold : undefined;
    const predicted = decide(probabilities, info, threshold);
    classIndex ??= predicted;
    let heatmap: Float32Array;
    if (method === 'gradcam') ({ heatmap } = gradCam(convMap, model.head, classIndex, size));
    else if (method === 'occlusion') {
      const occlusion = await occlusionMap(input, engine, model.head, classIndex, config.explain.occlusion);
      heatmap = finishCam(occlusion.raw, size, size, size);
    } else ({ heatmap } = convCam(method, convMap, model.head, classIndex, size));
    const listed = info.classNames.map((name, index) => `${name} ${probabilities[index].toFixed(4)}`).join(', ');
    const guardLine = verdict
      ? `out of distribution: ${verdict.outOfDistribution ? 'YES' : 'no'} ` +
        `(score ${verdict.score.toPrecision(4)}, threshold ${model.guard!.threshold.toPrecision(4)})`
      : model.guardStatus;
    const label = camMethodLabels[method];
    const notes: PictureNote[] = [
      { text: `${listed}; predicted ${info.classNames[predicted]}; ${label} for ${info.classNames[classIndex]}` },
      { text: guardLine, warning: verdict?.outOfDistribution !== false },
      ...warnings.map((warning) => ({ text: `warning: ${warning}`, warning: true })),
    ];
    const png = annotatedPng(overlayHeatmap(image.rgb, heatmap, size), size, size, notes);
    writeFileAtomicSync(out, png);
    printResult(`${label} for ${info.classNames[classIndex]} written to ${displayPath(out)}`);
    const cutOff = threshold !== undefined ? ` (threshold ${threshold} on ${info.classNames[info.positiveClass]})` : '';
    printResult(`probabilities: ${listed}; predicted ${info.classNames[predicted]}${cutOff}`);
    printResult(guardLine);
    for (const warning of warnings) printResult(`warning: ${warning}`);
  } finally {
    convMap?.dispose();
    model.head.dispose();
    await engine.dispose();
  }
  return 0;
});
