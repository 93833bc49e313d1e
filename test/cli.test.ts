/**
 * The command-line tools (predict, explain, evaluate) run as real child processes against a
 * small head trained here on real X-ray features, plus the argument and class-name helpers
 * they share. Bad inputs (corrupt, zero-byte, non-image files; 16-bit, grey+alpha, CMYK images;
 * missing, partial and other-class models; mismatched class folders) each get a clear one-line
 * message naming the file or folder, and never a stack trace.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { projectRoot } from '../lib/core/config';
import { createFeatureEngine } from '../lib/backbone/engine';
import { FeatureCache } from '../lib/backbone/featureCache';
import { extractFeatures } from '../lib/backbone/features';
import { buildHead } from '../lib/head/head';
import { saveHead, SavedModelInfo } from '../lib/head/modelStore';
import { trainHead } from '../lib/head/train';
import { weightsFingerprint } from '../lib/backbone/weights';
import { classKey, matchClass, matchClassFolders } from '../lib/core/classes';
import { imagesInFolder } from '../lib/data/files';
import { decide } from '../lib/head/predict';
import { CommandSpec, parseArgs, UsageError } from '../scripts/cli';
import { cxrDir, realWeights, temporaryFolder, tfReady } from './helpers';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs scripts/<name>.ts in a child process, as `npm run <name> -- ...args` does. */
function runCli(
  name: 'predict' | 'explain' | 'evaluate',
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'scripts', `${name}.ts`), ...args],
      {
        cwd: projectRoot,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every failure is one line (plus the usage for usage errors), never a stack trace. */
function assertNoStackTrace(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at /m, `stack trace in stderr:\n${result.stderr}`);
  assert.doesNotMatch(result.stdout, /^\s+at /m);
}

function xrayFiles(className: string, from: number, count: number): string[] {
  return fs
    .readdirSync(path.join(cxrDir, className))
    .sort()
    .slice(from, from + count)
    .map((name) => path.join(cxrDir, className, name));
}

const classNames = ['COVID', 'NORMAL'];

/** A tiny PNG whose header claims width x height pixels (one real row of data): "enormous" without the bytes. */
function enormousPng(width: number, height: number): Buffer {
  const crc32 = (bytes: Buffer): number => {
    let crc = 0xffffffff;
    for (const byte of bytes) {
      crc ^= byte;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    }
    return (crc ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // 8-bit grey
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A folder of good images in odd formats and sizes beside bad files, some in a sub-folder. */
async function makeMixedFolder(work: string) {
  const folder = path.join(work, 'mixed');
  const nested = path.join(folder, 'nested');
  fs.mkdirSync(nested, { recursive: true });
  const covid = xrayFiles('COVID', 20, 1)[0];
  const normal = xrayFiles('NORMAL', 20, 1)[0];
  const good = {
    covid: path.join(folder, 'covid.png'),
    normal: path.join(nested, 'normal.png'),
    sixteenBit: path.join(folder, 'sixteen-bit.png'),
    greyAlpha: path.join(nested, 'grey-alpha.png'),
    cmyk: path.join(folder, 'cmyk.jpg'),
  };
  fs.copyFileSync(covid, good.covid);
  fs.copyFileSync(normal, good.normal);
  await sharp(normal).resize(500, 620).toColourspace('rgb16').png().toFile(good.sixteenBit);
  await sharp(covid).toColourspace('b-w').ensureAlpha(0.7).png().toFile(good.greyAlpha);
  await sharp(normal).toColourspace('cmyk').jpeg().toFile(good.cmyk);
  assert.equal((await sharp(good.sixteenBit).metadata()).depth, 'ushort');
  assert.equal((await sharp(good.greyAlpha).metadata()).channels, 2);
  assert.equal((await sharp(good.cmyk).metadata()).space, 'cmyk');

  const bytes = fs.readFileSync(covid);
  const corrupt = Buffer.from(bytes);
  corrupt.fill(0x55, 200, 4000);
  const bad = {
    corrupt: path.join(folder, 'corrupt.png'),
    truncated: path.join(nested, 'truncated.png'),
    empty: path.join(folder, 'empty.png'),
    text: path.join(folder, 'text.png'),
    enormous: path.join(nested, 'enormous.png'),
  };
  fs.writeFileSync(bad.corrupt, corrupt);
  fs.writeFileSync(bad.truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
  fs.writeFileSync(bad.empty, '');
  fs.writeFileSync(bad.text, 'patient list, not an image\n');
  fs.writeFileSync(bad.enormous, enormousPng(40_000, 30_000));
  fs.writeFileSync(path.join(folder, 'notes.txt'), 'not an image and not named like one');

  return { folder, good, bad };
}

describe('command-line helpers', () => {
  const spec: CommandSpec = {
    name: 'demo',
    summary: 'demo',
    positionals: { label: '<image>', min: 1, max: 1 },
    flags: [
      { name: 'out', value: 'file', description: 'output' },
      { name: 'engine', value: 'name', choices: ['onnxruntime', 'tfjs'], description: 'engine' },
      { name: 'quiet', description: 'switch' },
      { name: 'data', value: 'folder', required: true, description: 'data' },
    ],
  };

  it('parses flags with separate or inline values, switches and positionals', () => {
    const parsed = parseArgs(['a.png', '--out', 'x.png', '--engine=tfjs', '--quiet', '--data', 'd'], spec);
    assert.deepEqual(parsed, {
      positionals: ['a.png'],
      flags: { out: 'x.png', engine: 'tfjs', quiet: true, data: 'd' },
    });
    assert.deepEqual(parseArgs(['--data', 'd', '--', '--odd-name.png'], spec).positionals, ['--odd-name.png']);
  });

  it('rejects unknown flags, missing values, bad choices, missing required flags and wrong counts with a UsageError', () => {
    const cases: [string[], RegExp][] = [
      [['a.png', '--data', 'd', '--bogus'], /unknown option --bogus/],
      [['a.png', '--data', 'd', '--out'], /--out needs a value/],
      [['a.png', '--data', 'd', '--engine', 'gpu'], /--engine must be one of onnxruntime, tfjs, not "gpu"/],
      [['a.png'], /--data is required/],
      [['--data', 'd'], /give one <image>/],
      [['a.png', 'b.png', '--data', 'd'], /too many arguments \(b\.png\)/],
      [['a.png', '--data', 'd', '--data', 'e'], /--data is given twice/],
      [['a.png', '--data', 'd', '--quiet=yes'], /--quiet takes no value/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseArgs(argv, spec),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
        argv.join(' '),
      );
    }
  });

  it('matches class names case-insensitively with the COVID-19 alias', () => {
    assert.equal(classKey('COVID-19'), 'covid');
    assert.equal(matchClass('covid-19', classNames), 0);
    assert.equal(matchClass('Covid', classNames), 0);
    assert.equal(matchClass('Normal', classNames), 1);
    assert.equal(matchClass('PNEUMONIA', classNames), -1);
    assert.equal(matchClass('', classNames), -1);
    assert.deepEqual(matchClassFolders(['Normal', 'covid-19'], classNames, '/data', '/model'), [1, 0]);
    assert.throws(
      () => matchClassFolders(['COVID', 'PNEUMONIA'], classNames, '/data', '/model'),
      /"PNEUMONIA" matches none of the model's classes; the model's class NORMAL has no folder/,
    );
    assert.throws(
      () => matchClassFolders(['COVID', 'covid-19', 'normal'], classNames, '/data', '/model'),
      /folders "COVID" and "covid-19" both match the class COVID/,
    );
  });

  it('decides with the saved threshold on the positive class, else argmax', () => {
    assert.equal(decide([0.45, 0.55], { positiveClass: 0, threshold: 0.4 }), 0);
    assert.equal(decide([0.35, 0.65], { positiveClass: 0, threshold: 0.4 }), 1);
    assert.equal(decide([0.45, 0.55], { positiveClass: 0 }), 1);
    assert.equal(decide([0.2, 0.3, 0.5], { positiveClass: 0, threshold: 0.1 }), 2);
  });

  it('finds PNG/JPEG files in folders recursively, sorted, skipping hidden entries and other files', () => {
    const folder = temporaryFolder('cli-walk');
    fs.mkdirSync(path.join(folder, 'b', 'c'), { recursive: true });
    fs.mkdirSync(path.join(folder, '.hidden'));
    for (const name of ['z.PNG', 'a.jpg', 'notes.txt', 'b/c/d.jpeg', 'b/e.png', '.hidden/f.png', '.g.png'])
      fs.writeFileSync(path.join(folder, name), '');
    fs.symlinkSync(folder, path.join(folder, 'b', 'loop'));
    assert.deepEqual(
      imagesInFolder(folder).map((file) => path.relative(folder, file)),
      ['a.jpg', 'b/c/d.jpeg', 'b/e.png', 'z.PNG'],
    );
    fs.rmSync(folder, { recursive: true, force: true });
  });
});

describe('command-line tools on real X-rays (child processes)', function () {
  this.timeout(180_000);
  const work = temporaryFolder('cli');
  const modelFolder = path.join(work, 'model');
  const trainingXrays = [...xrayFiles('COVID', 0, 10), ...xrayFiles('NORMAL', 0, 10)];
  const covidImage = trainingXrays[0];
  let info: SavedModelInfo;
  let mixed: Awaited<ReturnType<typeof makeMixedFolder>>;

  before(async () => {
    await tfReady();
    const weights = await realWeights();
    const engine = await createFeatureEngine(weights, { log: () => undefined });
    try {
      const cache = FeatureCache.open(path.join(work, 'cache'), weightsFingerprint(weights));
      const extraction = await extractFeatures(trainingXrays, { engine, cache, batchSize: 8 });
      assert.equal(extraction.kept.length, trainingXrays.length);
      const set = {
        features: extraction.features,
        labels: trainingXrays.map((file) => (file.includes(`${path.sep}COVID${path.sep}`) ? 0 : 1)),
      };
      const head = buildHead({ hiddenUnits: [32], classCount: 2, seed: 7 });
      await trainHead(head, set, set, {
        optimizer: 'adam',
        learningRate: 1e-3,
        momentum: 0.9,
        batchSize: 8,
        epochs: 15,
        seed: 7,
        earlyStopping: { monitor: 'val_loss', minDelta: 0, patience: 0, restoreBestWeights: false },
        reduceLearningRate: { monitor: 'val_loss', factor: 0.1, patience: 0, minLearningRate: 0 },
      });
      info = {
        classNames,
        positiveClass: 0,
        threshold: 0.4,
        weightsFingerprint: weightsFingerprint(weights),
        preprocessing: 'keras-nearest-caffe-v1',
        imageSize: 224,
        trainedAt: new Date().toISOString(),
        settings: { purpose: 'cli test' },
      };
      await saveHead(modelFolder, head, info);
      head.dispose();
    } finally {
      await engine.dispose();
    }
    mixed = await makeMixedFolder(work);
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('predict', () => {
    it('prints one JSON line for one image: probabilities per class, predicted class, threshold', async () => {
      const result = await runCli('predict', [covidImage, '--model', modelFolder]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trim().split('\n');
      assert.equal(lines.length, 1, result.stdout);
      const line = JSON.parse(lines[0]) as {
        file: string;
        probabilities: Record<string, number>;
        predicted: string;
        threshold: number;
      };
      assert.equal(line.file, covidImage);
      assert.deepEqual(Object.keys(line.probabilities), classNames);
      assert.ok(Math.abs(line.probabilities.COVID + line.probabilities.NORMAL - 1) < 1e-4);
      assert.equal(line.threshold, 0.4);
      // A training image of a head that fits its 20 training images.
      assert.equal(line.predicted, 'COVID');
      assertNoStackTrace(result);
    });

    it('walks a folder: odd but valid images are predicted, bad (corrupt, truncated, zero-byte, non-image, enormous) files are named with the reason and skipped, exit 0', async () => {
      const { folder, good, bad } = mixed;
      const result = await runCli('predict', [folder, '--model', modelFolder]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { file: string; probabilities: Record<string, number>; predicted: string });
      assert.deepEqual(lines.map((line) => line.file).sort(), Object.values(good).sort());
      for (const line of lines) {
        assert.ok(classNames.includes(line.predicted));
        assert.ok(Math.abs(line.probabilities.COVID + line.probabilities.NORMAL - 1) < 1e-4);
      }
      const reasons: [string, RegExp][] = [
        [bad.corrupt, /cannot be read as an image/],
        [bad.truncated, /cannot be read as an image/],
        [bad.empty, /empty \(zero-byte\)/],
        [bad.text, /not a PNG or JPEG image/],
        [bad.enormous, /image too large: over 100 megapixels/],
      ];
      for (const [file, reason] of reasons) {
        const line = result.stderr.split('\n').find((entry) => entry.startsWith(`skipped ${file}: `));
        assert.ok(line, `no skipped line for ${file} in:\n${result.stderr}`);
        assert.match(line, reason);
      }
      assert.match(result.stderr, /skipped 5 files: /);
      assert.match(result.stderr, /predicted 5 images/);
      assert.match(result.stderr, /^predict .* 10\/10 100%/m, 'progress bar on stderr');
      assert.doesNotMatch(result.stderr + result.stdout, /notes\.txt/);
      assertNoStackTrace(result);
    });

    it('exits 1 when no image could be read, naming each file', async () => {
      const folder = path.join(work, 'only-bad');
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, 'empty.jpg'), '');
      const missing = path.join(work, 'no-such-image.png');
      const result = await runCli('predict', [folder, missing, '--model', modelFolder]);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, new RegExp(`skipped ${missing}: not found`));
      assert.match(result.stderr, /empty\.jpg: is an empty \(zero-byte\) file/);
      assert.match(result.stderr, /predict: no image could be read \(2 skipped\)/);
      assertNoStackTrace(result);
    });

    it('answers an unknown flag with the usage line and exit 1', async () => {
      const result = await runCli('predict', [covidImage, '--modle', modelFolder]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^predict: unknown option --modle$/m);
      assert.match(result.stderr, /^usage: npm run predict -- <image or folder>\.\.\. \[--model dir\]/m);
      assert.equal(result.stdout, '');
    });
  });

  describe('explain', () => {
    it('writes a 224-wide Grad-CAM PNG (with its caption banner) where --out says and prints the path and probabilities', async () => {
      const out = path.join(work, 'explained', 'covid-gradcam.png');
      const result = await runCli('explain', [covidImage, '--out', out, '--model', modelFolder]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`Grad-CAM for COVID written to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
      assert.match(result.stdout, /probabilities: COVID \d\.\d{4}, NORMAL \d\.\d{4}; predicted COVID/);
      const metadata = await sharp(out).metadata();
      // The 224x224 overlay, with a banner below it: probabilities, guard status, input warnings.
      assert.deepEqual([metadata.format, metadata.width], ['png', 224]);
      assert.ok(metadata.height! > 224, `height ${metadata.height}`);
      assert.match(result.stdout, /guard unavailable/);
      assertNoStackTrace(result);
    });

    it('explains another class on request and writes to outputs/explain/<name>-gradcam.png by default', async () => {
      const outputs = path.join(work, 'outputs');
      const image = mixed.good.cmyk;
      const result = await runCli('explain', [image, '--class', 'normal', '--model', modelFolder], {
        CXR_OUTPUTS_DIR: outputs,
      });
      assert.equal(result.code, 0, result.stderr);
      const out = path.join(outputs, 'explain', 'cmyk-gradcam.png');
      assert.match(result.stdout, /Grad-CAM for NORMAL written to /);
      assert.equal((await sharp(out).metadata()).width, 224);
    });

    it('draws every CAM method with --method, and an unknown method is a usage error listing them', async () => {
      for (const [method, label] of [
        ['gradcam++', 'Grad-CAM\\+\\+'],
        ['hirescam', 'HiResCAM'],
        ['eigencam', 'Eigen-CAM'],
        ['occlusion', 'Occlusion'],
      ]) {
        const out = path.join(work, 'methods', `covid-${method}.png`);
        const result = await runCli('explain', [covidImage, '--method', method, '--out', out, '--model', modelFolder]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^${label} for COVID written to `, 'm'));
        assert.equal((await sharp(out).metadata()).width, 224);
      }
      const unknown = await runCli('explain', [covidImage, '--method', 'scorecam', '--model', modelFolder]);
      assert.equal(unknown.code, 1);
      assert.match(
        unknown.stderr,
        /--method must be one of gradcam, gradcam\+\+, hirescam, eigencam, occlusion, not "scorecam"/,
      );
      assertNoStackTrace(unknown);
    });

    it('names an unreadable image and an unknown class in one line', async () => {
      const unreadable = await runCli('explain', [mixed.bad.text, '--model', modelFolder]);
      assert.equal(unreadable.code, 1);
      assert.match(
        unreadable.stderr,
        /^explain: .*text\.png: cannot be read as an image \(not a PNG or JPEG image\)$/m,
      );
      assertNoStackTrace(unreadable);
      const unknownClass = await runCli('explain', [covidImage, '--class', 'PNEUMONIA', '--model', modelFolder]);
      assert.equal(unknownClass.code, 1);
      assert.match(
        unknownClass.stderr,
        /--class "PNEUMONIA" is not a class of the model in .*; choose one of COVID, NORMAL/,
      );
      assertNoStackTrace(unknownClass);
    });
  });

  describe('evaluate', () => {
    function classFolderDataset(name: string, folders: Record<string, string[]>): string {
      const root = path.join(work, name);
      for (const [folder, files] of Object.entries(folders)) {
        fs.mkdirSync(path.join(root, folder), { recursive: true });
        for (const file of files) fs.copyFileSync(file, path.join(root, folder, path.basename(file)));
      }
      return root;
    }

    it('validates on a class-folder dataset with other folder names: metrics JSON, predictions, figures, HTML report, headline', async () => {
      const data = classFolderDataset('hospital-b', {
        'covid-19': xrayFiles('COVID', 30, 8),
        Normal: xrayFiles('NORMAL', 30, 8),
      });
      fs.writeFileSync(path.join(data, 'Normal', 'broken.png'), '');
      const out = path.join(work, 'external');
      const result = await runCli('evaluate', [
        '--model',
        modelFolder,
        '--data',
        data,
        '--out',
        out,
        '--resamples',
        '200',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^external validation on 16 images \(COVID 8, NORMAL 8; 1 skipped\) at threshold 0\.4 \(saved with the model, chosen on validation data\): accuracy \d\.\d\d \(\d\.\d\d–\d\.\d\d\), sensitivity .*, specificity .*, AUC .*\(95% bootstrap CIs\)$/m,
      );
      assert.match(result.stderr, /skipped .*broken\.png: is an empty \(zero-byte\) file/);
      const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
      assert.deepEqual(metrics.counts, { found: 17, evaluated: 16, skipped: 1, perClass: { COVID: 8, NORMAL: 8 } });
      assert.deepEqual(metrics.settings.classFolders, { Normal: 'NORMAL', 'covid-19': 'COVID' });
      assert.equal(metrics.metrics.counts.total, 16);
      assert.equal(metrics.metrics.atChosenThreshold.threshold, 0.4);
      assert.equal(metrics.metrics.atDefaultThreshold.threshold, 0.5);
      assert.equal(metrics.metrics.bootstrap.resamples, 200);
      assert.equal(metrics.skipped[0].file, 'Normal/broken.png');
      const predictions = JSON.parse(fs.readFileSync(path.join(out, 'predictions.json'), 'utf8'));
      assert.equal(predictions.predictions.length, 16);
      const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
      assert.match(html, /<title>External validation on hospital-b<\/title>/);
      assert.ok((html.match(/src="data:image\/png;base64,/g) ?? []).length >= 4, 'figures embedded');
      for (const figure of [
        'roc-curve.png',
        'precision-recall-curve.png',
        'reliability-diagram.png',
        'confusion-matrix-argmax.png',
      ])
        assert.ok(fs.existsSync(path.join(out, 'figures', figure)), figure);
      assertNoStackTrace(result);
    });

    it('rejects a class folder that matches none of the model classes, naming both sides', async () => {
      const data = classFolderDataset('with-pneumonia', {
        COVID: xrayFiles('COVID', 40, 1),
        PNEUMONIA: xrayFiles('NORMAL', 40, 1),
      });
      const result = await runCli('evaluate', ['--model', modelFolder, '--data', data]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /class folder "PNEUMONIA" matches none of the model's classes; the model's class NORMAL has no folder/,
      );
      assert.match(result.stderr, /has classes COVID, NORMAL; the data folder has COVID, PNEUMONIA/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assertNoStackTrace(result);
    });

    it('rejects a single-class folder and a missing --data', async () => {
      const data = classFolderDataset('one-class', { COVID: xrayFiles('COVID', 40, 1) });
      const single = await runCli('evaluate', ['--model', modelFolder, '--data', data]);
      assert.equal(single.code, 1);
      assert.match(single.stderr, /one-class: has only one class folder \(COVID\)/);
      const noData = await runCli('evaluate', ['--model', modelFolder]);
      assert.equal(noData.code, 1);
      assert.match(noData.stderr, /evaluate: --data is required/);
      assert.match(noData.stderr, /^usage: npm run evaluate -- --data folder/m);
    });
  });

  describe('model folders that are missing, partial or for another class set', () => {
    function copyModel(name: string, change: (folder: string) => void): string {
      const folder = path.join(work, name);
      fs.cpSync(modelFolder, folder, { recursive: true });
      change(folder);
      return folder;
    }

    it('a folder without classifier.json: exit 1, one line naming the folder', async () => {
      const partial = copyModel('no-classifier-json', (folder) => fs.rmSync(path.join(folder, 'classifier.json')));
      const result = await runCli('predict', [covidImage, '--model', partial]);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr.trim(),
        `predict: ${partial}: is not a complete saved model (no classifier.json); train again`,
      );
      assertNoStackTrace(result);
    });

    it('a folder without weights.bin, and a folder that does not exist', async () => {
      const partial = copyModel('no-weights', (folder) => fs.rmSync(path.join(folder, 'weights.bin')));
      const noWeights = await runCli('explain', [covidImage, '--model', partial]);
      assert.equal(noWeights.code, 1);
      assert.match(
        noWeights.stderr,
        new RegExp(`^explain: ${partial}: is not a complete saved model \\(no weights\\.bin\\)`, 'm'),
      );
      assertNoStackTrace(noWeights);
      const absent = path.join(work, 'never-trained');
      const missing = await runCli('evaluate', ['--model', absent, '--data', cxrDir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, new RegExp(`^evaluate: ${absent}: model folder not found`, 'm'));
      assertNoStackTrace(missing);
    });

    it('a classifier.json for another class set than the saved network, and a three-class model for evaluate', async () => {
      const mismatched = copyModel('three-names', (folder) =>
        fs.writeFileSync(
          path.join(folder, 'classifier.json'),
          JSON.stringify({ ...info, classNames: ['COVID', 'NORMAL', 'PNEUMONIA'] }),
        ),
      );
      const predict = await runCli('predict', [covidImage, '--model', mismatched]);
      assert.equal(predict.code, 1);
      assert.match(
        predict.stderr,
        new RegExp(`predict: ${mismatched}: the model has 2 outputs but classifier.json names 3 classes`),
      );
      assertNoStackTrace(predict);

      const evaluate = await runCli('evaluate', ['--model', mismatched, '--data', cxrDir]);
      assert.equal(evaluate.code, 1);
      assert.match(
        evaluate.stderr,
        new RegExp(
          `evaluate: ${mismatched}: has 3 classes \\(COVID, NORMAL, PNEUMONIA\\); screening metrics need a two-class model`,
        ),
      );
      assertNoStackTrace(evaluate);
    });

    it('a damaged classifier.json', async () => {
      const damaged = copyModel('damaged-json', (folder) =>
        fs.writeFileSync(path.join(folder, 'classifier.json'), '{"classNames": ["COVID", '),
      );
      const result = await runCli('predict', [covidImage, '--model', damaged]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /classifier\.json: cannot be read/);
      assertNoStackTrace(result);
    });
  });
});
