/**
 * `npm run predict -- <image or folder>... [--model outputs/model] [--engine onnxruntime|tfjs]`
 *
 * Prints one JSON line per image on stdout:
 *   {"file":"x.png","probabilities":{"COVID":0.93,"NORMAL":0.07},"rawProbabilities":{...},
 *    "predicted":"COVID","threshold":0.42,"outOfDistribution":false,"oodScore":0.12,"warnings":[]}
 * "probabilities" are calibrated (temperature scaling) when the model has a temperature, and
 * "rawProbabilities" are the head's softmax. "threshold" only when the model was saved with one;
 * "predicted" then uses it, else argmax. "outOfDistribution" and "oodScore" come from the guard
 * saved with the model (null, with "guard": "unavailable ...", for a model saved without one);
 * "warnings" from checks on the picture itself (tiny, coloured, extreme aspect ratio).
 * With --refuse-ood, flagged or warned images get "withheld" instead of probabilities.
 * Folders are searched recursively for PNG/JPEG files, with a progress bar on stderr. A file that
 * cannot be read is named on stderr with the reason, the rest go on, and the skipped files are
 * listed at the end. Exit code 0 when at least one image was predicted, else 1.
 */
import * as fs from 'fs';
import { preprocessedBatches } from '../lib/backbone/featurePipeline';
import { featureLength } from '../lib/core/contracts';
import { UserFacingError } from '../lib/core/errors';
import { imagesInFolder } from '../lib/data/files';
import { checkInputImage } from '../lib/data/inputChecks';
import { checkModelFolder } from '../lib/head/modelStore';
import { decide, probabilitiesByName } from '../lib/head/predict';
import { openBackbone } from '../lib/pipeline/backbone';
import { openModel, withModelPreprocessing } from '../lib/pipeline/model';
import { screenFeatures } from '../lib/pipeline/safeguards';
import { createProgress } from '../lib/view/progress';
import {
  CommandSpec,
  commonFlags,
  configFromArgs,
  displayPath,
  main,
  modelFolderFromArgs,
  note,
  printResult,
  skippedSummary,
  warnIfWeightsDiffer,
} from './cli';

const spec: CommandSpec = {
  name: 'predict',
  summary:
    'Classifies chest X-rays with a saved model: one JSON line per image on stdout (file, probabilities per class, ' +
    'predicted class).',
  positionals: { label: '<image or folder>...', min: 1, max: Infinity },
  flags: [
    ...commonFlags,
    {
      name: 'refuse-ood',
      description:
        'withhold the prediction for images the out-of-distribution guard flags or the input checks warn about',
    },
  ],
};

/** Input-check warnings of each file; a file the checks cannot read gets one warning saying so. */
async function inputWarnings(files: string[]): Promise<string[][]> {
  return Promise.all(
    files.map((file) =>
      checkInputImage(file).then(
        (check) => check.warnings,
        () => ['the input checks could not read this file'],
      ),
    ),
  );
}

interface Inputs {
  files: string[];
  /** Paths given that do not exist: skipped like unreadable images. */
  missing: string[];
  hasFolder: boolean;
}

function collectInputs(paths: string[]): Inputs {
  const inputs: Inputs = { files: [], missing: [], hasFolder: false };
  const seen = new Set<string>();
  const add = (file: string) => {
    if (!seen.has(file)) {
      seen.add(file);
      inputs.files.push(file);
    }
  };
  for (const given of paths) {
    let stats: fs.Stats;
    try {
      stats = fs.statSync(given);
    } catch {
      inputs.missing.push(given);
      continue;
    }
    if (stats.isDirectory()) {
      inputs.hasFolder = true;
      const found = imagesInFolder(given);
      if (found.length === 0) note(`no PNG or JPEG images in folder ${given}`);
      found.forEach(add);
    } else {
      add(given); // named explicitly: tried whatever its extension, the decoder says if it is no image
    }
  }
  return inputs;
}

main(spec, async (args) => {
  const argsConfig = configFromArgs(args);
  const modelFolder = modelFolderFromArgs(args, argsConfig);
  const info = checkModelFolder(modelFolder);
  // The preprocessing the model was trained with (a shortcut mitigation), unless CXR_MITIGATION says otherwise.
  const config = withModelPreprocessing(argsConfig, info);
  const inputs = collectInputs(args.positionals);
  const skipped: { file: string; reason: string }[] = [];
  for (const file of inputs.missing) {
    note(`skipped ${file}: not found`);
    skipped.push({ file, reason: 'not found' });
  }
  if (inputs.files.length === 0) {
    throw new UserFacingError(
      inputs.missing.length
        ? `nothing to predict: ${skippedSummary(skipped, false)}`
        : `no PNG or JPEG images found in ${args.positionals.join(', ')}`,
    );
  }

  const refuse = args.flags['refuse-ood'] === true;
  const model = await openModel(modelFolder, config, note, info);
  if (!model.guard) note(`${displayPath(modelFolder)}: ${model.guardStatus}`);
  // The engine starts with the first readable image: a run where nothing can be read never loads it.
  const { engine, weights, batchSize } = await openBackbone(config, note, modelFolder);
  warnIfWeightsDiffer(model, weights);
  const threshold = info.classNames.length === 2 ? info.threshold : undefined;
  const progress = createProgress('predict', inputs.files.length, { quiet: !inputs.hasFolder });
  let predicted = 0;
  let done = 0;
  let unreadable = 0;
  let flagged = 0;
  let withheld = 0;
  try {
    for await (const batch of preprocessedBatches(inputs.files, {
      batchSize: batchSize,
      preprocessing: config.preprocessing,
    })) {
      for (const failure of batch.skipped) {
        note(`skipped ${failure.file}: ${failure.reason}`);
        skipped.push(failure);
      }
      if (batch.count > 0) {
        const pooled = await engine.pooledFeatures(batch.input, batch.count);
        if (pooled.length !== batch.count * featureLength)
          throw new Error(`the engine returned ${pooled.length} features for ${batch.count} images`);
        const screened = screenFeatures(model, pooled);
        const warnings = await inputWarnings(batch.files);
        screened.probabilities.forEach((probabilities, row) => {
          const verdict = screened.guard?.[row];
          const safety: Record<string, unknown> = {
            outOfDistribution: verdict ? verdict.outOfDistribution : null,
            oodScore: verdict ? Number(verdict.score.toPrecision(6)) : null,
            ...(verdict ? {} : { guard: model.guardStatus }),
            warnings: warnings[row],
          };
          if (verdict?.outOfDistribution) flagged++;
          if (refuse && (verdict?.outOfDistribution || warnings[row].length > 0)) {
            withheld++;
            const reason = verdict?.outOfDistribution ? 'out of distribution' : 'input warnings';
            printResult(JSON.stringify({ file: batch.files[row], withheld: reason, ...safety }));
            return;
          }
          const line: Record<string, unknown> = {
            file: batch.files[row],
            probabilities: probabilitiesByName(probabilities, info.classNames),
            rawProbabilities: probabilitiesByName(screened.raw[row], info.classNames),
            predicted: info.classNames[decide(probabilities, info, threshold)],
          };
          if (threshold !== undefined) line.threshold = threshold;
          printResult(JSON.stringify({ ...line, ...safety }));
        });
        predicted += batch.count;
      }
      done += batch.count + batch.skipped.length;
      unreadable += batch.skipped.length;
      // The last batch is drawn by finish(), so a log shows the final line once.
      if (done < inputs.files.length) progress.update(done, unreadable ? `${unreadable} skipped` : undefined);
    }
  } finally {
    await engine.dispose();
  }
  progress.finish(unreadable ? `${unreadable} skipped` : undefined);

  if (skipped.length) note(skippedSummary(skipped, false));
  if (predicted === 0) throw new UserFacingError(`no image could be read (${skipped.length} skipped)`);
  if (model.guard && flagged > 0)
    note(`${flagged} of ${predicted} image${predicted === 1 ? '' : 's'} flagged out of distribution`);
  if (withheld > 0) note(`${withheld} prediction${withheld === 1 ? '' : 's'} withheld (--refuse-ood)`);
  if (inputs.files.length + inputs.missing.length > 1)
    note(`predicted ${predicted} image${predicted === 1 ? '' : 's'} with ${displayPath(modelFolder)}`);
  return 0;
});
