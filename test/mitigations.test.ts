import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../lib/core/config';
import {
  defaultPreprocessing,
  mitigationNames,
  PreprocessingSettings,
  preprocessingName,
} from '../lib/core/preprocessing';
import { loadImageRgb } from '../lib/data/images';
import { cropBox, equalizeHistogram } from '../lib/data/mitigations';
import { buildHead } from '../lib/head/head';
import { saveHead, SavedModelInfo } from '../lib/head/modelStore';
import { openBackbone } from '../lib/pipeline/backbone';
import { mitigationTable, runMitigations, summarizeMitigations } from '../lib/pipeline/mitigations';
import { openModel, withModelPreprocessing } from '../lib/pipeline/model';
import { cxrDir, someXrays, temporaryFolder, tfReady } from './helpers';

const settings = (mitigation: PreprocessingSettings['mitigation']): PreprocessingSettings => ({
  ...defaultPreprocessing,
  mitigation: mitigation,
});

/** A 100x80 grey PNG with a white 10-pixel frame (the "markers") around a mid-grey inside. */
async function framedImage(folder: string): Promise<string> {
  const width = 100;
  const height = 80;
  const pixels = Buffer.alloc(width * height, 255);
  for (let y = 10; y < height - 10; y++) pixels.fill(100, y * width + 10, y * width + width - 10);
  const file = path.join(folder, 'framed.png');
  await sharp(pixels, { raw: { width: width, height: height, channels: 1 } })
    .png()
    .toFile(file);
  return file;
}

describe('shortcut mitigations: settings and pixels', () => {
  it('one config value, also from CXR_MITIGATION; bad values are named', () => {
    assert.equal(loadConfig({}, {}).preprocessing.mitigation, 'none');
    assert.equal(loadConfig({}, { CXR_MITIGATION: 'clahe' }).preprocessing.mitigation, 'clahe');
    assert.equal(loadConfig({ preprocessing: { mitigation: 'crop-border' } }, {}).preprocessing.cropFraction, 0.12);
    assert.throws(
      () => loadConfig({}, { CXR_MITIGATION: 'blur' }),
      /preprocessing.mitigation "blur" is unknown; choose none, crop-border/,
    );
    assert.throws(() => loadConfig({ preprocessing: { cropFraction: 0.6 } }, {}), /preprocessing.cropFraction/);
    assert.throws(
      () => loadConfig({ preprocessing: { maskBox: { x: [0.5, 0.2], y: [0, 1] } } }, {}),
      /preprocessing.maskBox.x/,
    );
  });

  it("names every mitigation apart; 'none' keeps the article's cache name", () => {
    const names = mitigationNames.map((name) => preprocessingName(settings(name)));
    assert.equal(names[0], 'keras-nearest-caffe-v1');
    assert.equal(new Set(names).size, names.length);
    assert.notEqual(
      preprocessingName({ ...settings('crop-border'), cropFraction: 0.2 }),
      preprocessingName(settings('crop-border')),
    );
  });

  it("'none' decodes exactly as before; the crop removes a white frame, the mask fills it with the mean", async () => {
    const file = await framedImage(temporaryFolder('mitigation-pixels'));
    const plain = await loadImageRgb(file, 50);
    assert.deepEqual(await loadImageRgb(file, 50, settings('none')), plain);
    assert.equal(plain.rgb[0], 255, 'the frame is there without a mitigation');
    // 12% of 100 x 80 is 12 x 10 pixels: the whole 10-pixel frame (and 2 columns more) goes.
    assert.deepEqual(cropBox(100, 80, 0.12), { left: 12, top: 10, width: 76, height: 60 });
    const cropped = await loadImageRgb(file, 50, settings('crop-border'));
    assert.ok(
      cropped.rgb.every((value) => value === 100),
      'nothing of the frame is left',
    );
    const masked = await loadImageRgb(file, 50, settings('mask-border'));
    assert.deepEqual([...masked.rgb.subarray(0, 3)], [124, 117, 104], 'the ImageNet mean outside the box');
    const centre = (25 * 50 + 25) * 3;
    assert.equal(masked.rgb[centre], 100, 'inside the box the image is untouched');
    const black = await loadImageRgb(file, 50, { ...settings('mask-border'), maskFill: 'black' });
    assert.equal(black.rgb[0], 0);
  });

  it("equalises with OpenCV's equalizeHist rule (hand-computed), CLAHE keeps three equal channels", async () => {
    // Grey levels 10 (2 pixels), 20 (1), 30 (1): cdf 2, 3, 4; (cdf - 2) * 255 / (4 - 2) -> 0, 127.5, 255.
    const rgb = Uint8Array.from([10, 10, 10, 10, 10, 10, 20, 20, 20, 30, 30, 30]);
    assert.deepEqual([...equalizeHistogram(rgb)], [0, 0, 0, 0, 0, 0, 128, 128, 128, 255, 255, 255]);
    assert.deepEqual([...equalizeHistogram(Uint8Array.from([7, 7, 7]))], [7, 7, 7], 'one grey level is left alone');
    const xray = someXrays(1)[0].file;
    const plain = await loadImageRgb(xray);
    for (const name of ['equalize', 'clahe'] as const) {
      const image = await loadImageRgb(xray, 224, settings(name));
      assert.equal(image.rgb.length, 224 * 224 * 3);
      for (let i = 0; i < image.rgb.length; i += 3) {
        assert.ok(image.rgb[i] === image.rgb[i + 1] && image.rgb[i] === image.rgb[i + 2], `${name}: grey stays grey`);
      }
      assert.notDeepEqual(image.rgb, plain.rgb, `${name} changes the pixels`);
    }
    const equalized = await loadImageRgb(xray, 224, settings('equalize'));
    assert.equal(
      equalized.rgb.reduce((a, b) => Math.max(a, b), 0),
      255,
    );
  });
});

describe('shortcut mitigations: through the model store and the backbone', function () {
  this.timeout(120_000);
  let head: tf.LayersModel;
  const folder = path.join(temporaryFolder('mitigation-model'), 'model');
  const info: SavedModelInfo = {
    classNames: ['COVID', 'NORMAL'],
    positiveClass: 0,
    weightsFingerprint: 'test',
    preprocessing: preprocessingName(settings('crop-border')),
    preprocessingSettings: settings('crop-border'),
    imageSize: 224,
    trainedAt: 'now',
    settings: {},
  };
  before(async () => {
    await tfReady();
    head = buildHead({ hiddenUnits: [4], classCount: 2, seed: 1 });
    await saveHead(folder, head, info);
  });
  after(() => head.dispose());

  it('refuses a config whose preprocessing differs from the saved model, saying what to set', async () => {
    await assert.rejects(
      openModel(folder, loadConfig({}, {}), () => undefined),
      (error: Error) => {
        assert.match(error.message, /model was trained with preprocessing crop-border \(12% of each side/);
        assert.match(error.message, /config asks for none/);
        assert.match(error.message, /CXR_MITIGATION=crop-border/);
        assert.ok(!/\n\s+at /.test(String(error.stack)), 'no stack trace');
        return true;
      },
    );
    const adopted = withModelPreprocessing(loadConfig({}, {}), info, {});
    assert.equal(adopted.preprocessing.mitigation, 'crop-border', 'commands take the model’s preprocessing');
    const opened = await openModel(folder, adopted, () => undefined);
    opened.head.dispose();
    const explicit = withModelPreprocessing(loadConfig({}, { CXR_MITIGATION: 'clahe' }), info, {
      CXR_MITIGATION: 'clahe',
    });
    await assert.rejects(
      openModel(folder, explicit, () => undefined),
      /config asks for clahe/,
    );
  });

  it('keys the feature cache by the preprocessing name', async () => {
    const cacheDir = temporaryFolder('mitigation-cache');
    const lines: string[] = [];
    const config = loadConfig({ cacheDir: cacheDir, preprocessing: { mitigation: 'equalize' } }, {});
    const backbone = await openBackbone(config, (line) => lines.push(line));
    assert.match(path.basename(backbone.cache.filePath), /\+equalize\.bin$/);
    assert.equal(backbone.preprocessing.mitigation, 'equalize');
    assert.ok(lines.some((line) => /preprocessing: equalize/.test(line)));
    await backbone.engine.dispose();
  });
});

describe('npm run mitigations on a small subset (real X-rays, real backbone)', function () {
  this.timeout(600_000);
  before(tfReady);

  it('masking the border leaves the border-only probe at chance; the file resumes', async () => {
    const outputsDir = temporaryFolder('mitigations-run');
    const config = loadConfig(
      {
        dataDir: cxrDir,
        subsetPerClass: 16,
        outputsDir: outputsDir,
        cacheDir: temporaryFolder('mitigations-cache'),
        ensembleSize: 1,
        epochs: 2,
      },
      {},
    );
    const lines: string[] = [];
    const before = tf.memory().numTensors;
    const results = await runMitigations(config, ['mask-border'], [42], (line) => lines.push(line), {
      auditTest: false,
    });
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
    assert.equal(results.runs.length, 1);
    assert.equal(results.extraction['mask-border'].images, 32);
    const audit = results.audits[0];
    // With the border masked to one colour and the centre blacked out, every image is the same picture.
    assert.equal(audit.validation.borderOnly.auc, 0.5);
    assert.equal(audit.test, undefined);
    const energy = audit.validation.energyInsideBox.gradcam;
    assert.deepEqual(Object.keys(energy), ['COVID', 'NORMAL']);
    assert.ok(fs.existsSync(path.join(outputsDir, 'mitigations.json')));
    let trained = 0;
    await runMitigations(config, ['mask-border'], [42], () => undefined, {
      auditTest: false,
      onRun: (_file, _run, reused) => (trained += reused ? 0 : 1),
    });
    assert.equal(trained, 0, 'a second run reuses the saved run and audit');
    const table = mitigationTable(summarizeMitigations(results));
    assert.equal(table.rows[0][0], 'mask-border');
    assert.equal(table.rows[0][5], '0.500');
    await assert.rejects(runMitigations(config, ['blur' as never], [42]), /unknown mitigation "blur"/);
  });
});
