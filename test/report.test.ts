import { strict as assert } from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createCanvas } from 'canvas';
import sharp from 'sharp';
import { UserFacingError } from '../lib/core/errors';
import { evaluateScreening } from '../lib/evaluate';
import { createRandom } from '../lib/core/random';
import { formatDuration, formatWithInterval, renderReport, ScreeningReport, writeReport } from '../lib/view/report';
import { escapeHtml } from '../lib/view/html';

const chromiumPath = '/usr/bin/chromium';

/** A small chart-like PNG with a solid block of `colour`, so the screenshot can prove it was drawn. */
function figurePng(colour: string, label: string): Buffer {
  const canvas = createCanvas(420, 260);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, 420, 260);
  context.strokeStyle = '#333333';
  context.beginPath();
  context.moveTo(40, 20);
  context.lineTo(40, 230);
  context.lineTo(400, 230);
  context.stroke();
  context.fillStyle = colour;
  context.fillRect(80, 60, 120, 170);
  context.fillRect(240, 120, 120, 110);
  context.fillStyle = '#333333';
  context.font = '16px sans-serif';
  context.fillText(label, 50, 30);
  return canvas.toBuffer('image/png');
}

function sampleReport(): ScreeningReport {
  const random = createRandom(21);
  const labels: number[] = [];
  const probabilities: number[] = [];
  for (let i = 0; i < 300; i++) {
    const label = random() < 0.46 ? 0 : 1;
    labels.push(label);
    probabilities.push(Math.min(1, Math.max(0, (label === 0 ? 0.72 : 0.28) + (random() - 0.5) * 0.7)));
  }
  const metrics = evaluateScreening(labels, probabilities, {
    chosenThreshold: { threshold: 0.35, description: 'Youden on validation <chosen>' },
    bootstrap: { resamples: 200, seed: 3 },
  });
  return {
    title: 'ResNet50 COVID-19 screening <test> & "report"',
    generatedAt: '2026-11-25T19:00:00Z',
    settings: {
      learningRate: 0.0001,
      epochs: 3,
      batchSize: 64,
      dataDir: '/data/<cxr>',
      layers: [512, 2],
      backbone: undefined,
    },
    dataCounts: { train: 1431, validation: 158, test: 300 },
    backend: 'wasm',
    engine: 'onnxruntime',
    timings: { features: 64.2, training: 3.4, evaluation: 0.25, total: 3725 },
    metrics,
    figures: [
      { title: 'Training accuracy', png: figurePng('#e0007a', 'accuracy'), caption: 'Per epoch <b>not bold</b>.' },
      { title: 'ROC curve', png: figurePng('#00a0e0', 'roc') },
    ],
    notes: ['Classes come from different hospitals <script>alert(1)</script>'],
  };
}

function runChromium(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(chromiumPath, args, { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`chromium failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

describe('report', () => {
  let folder: string;

  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'report-test-'));
  });

  afterEach(() => {
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('formats values, intervals and durations', () => {
    assert.equal(
      formatWithInterval({ value: 0.93, lower: 0.9012, upper: 0.95, resamplesUsed: 10 }),
      '0.930 (0.901\u20130.950)',
    );
    assert.equal(
      formatWithInterval({ value: 0.93, lower: 0.9, upper: 0.95, resamplesUsed: 10 }, 2),
      '0.93 (0.90\u20130.95)',
    );
    assert.equal(formatWithInterval({ value: NaN, lower: NaN, upper: NaN, resamplesUsed: 0 }), 'n/a');
    assert.equal(formatDuration(0.25), '0.25 s');
    assert.equal(formatDuration(64.2), '1 min 04 s');
    assert.equal(formatDuration(3725), '1 h 02 min');
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });

  it('renders one self-contained, escaped page with metrics, CIs and figures', () => {
    const report = sampleReport();
    const html = renderReport(report);
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.ok(!/<script/i.test(html), 'no scripts, even from notes');
    assert.ok(html.includes('&#60;script&#62;alert(1)'));
    assert.ok(html.includes('ResNet50 COVID-19 screening &#60;test&#62; &#38; &#34;report&#34;'));
    assert.ok(!html.includes('<b>not bold</b>'));
    assert.ok(!/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i.test(html), 'no network src/href');
    assert.ok(!/url\(/i.test(html), 'no CSS url()');
    assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 2);
    const sensitivity = report.metrics.atDefaultThreshold.confidenceIntervals.sensitivity;
    assert.ok(html.includes(escapeHtml(formatWithInterval(sensitivity))));
    const matrix = report.metrics.atDefaultThreshold.confusionMatrix;
    assert.ok(html.includes(`>${matrix[0][0]}<small>`));
    assert.ok(html.includes('Youden on validation &#60;chosen&#62;'));
    assert.ok(html.includes('1 h 02 min'));
    assert.ok(html.includes('[512,2]'));
  });

  it('refuses a figure that is not a PNG, naming it', () => {
    const report = { ...sampleReport(), figures: [{ title: 'Broken chart', png: Buffer.from('GIF89a...') }] };
    assert.throws(
      () => renderReport(report),
      (error: unknown) => error instanceof UserFacingError && /Broken chart/.test(error.message),
    );
  });

  it('writes the report atomically', async () => {
    const target = path.join(folder, 'out', 'report.html');
    await writeReport(target, sampleReport());
    assert.ok(fs.readFileSync(target, 'utf8').includes('</html>'));
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ['report.html']);
  });

  it('opens in headless chromium without console errors and draws the figures', async function () {
    if (!fs.existsSync(chromiumPath)) {
      console.warn(`    skipped: ${chromiumPath} not found (apt-get install -y chromium)`);
      this.skip();
    }
    this.timeout(90_000);
    const page = path.join(folder, 'report.html');
    const screenshot = path.join(folder, 'screenshot.png');
    await writeReport(page, sampleReport());
    // Control page: proves the log check below can see a console error and a blocked load.
    const controlPage = path.join(folder, 'control.html');
    fs.writeFileSync(
      controlPage,
      renderReport(sampleReport()).replace(
        '</main>',
        '<img src="http://example.invalid/x.png"><script>missingFunction()</script></main>',
      ),
    );
    const chromiumArgs = (name: string, target: string) => [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      `--user-data-dir=${path.join(folder, `profile-${name}`)}`,
      '--enable-logging=stderr',
      '--v=0',
      `--screenshot=${path.join(folder, `${name}.png`)}`,
      '--window-size=1200,2000',
      `file://${target}`,
    ];
    const [report, control] = await Promise.all([
      runChromium(chromiumArgs('screenshot', page)),
      runChromium(chromiumArgs('control', controlPage)),
    ]);
    if (process.env.REPORT_SCREENSHOT) fs.copyFileSync(screenshot, process.env.REPORT_SCREENSHOT);
    // Console messages (script errors, Content-Security-Policy refusals of any load) appear as CONSOLE lines.
    const consoleLines = (stderr: string) =>
      stderr.split('\n').filter((line) => /CONSOLE|Refused to|Content Security Policy|net::ERR/i.test(line));
    assert.ok(
      consoleLines(control.stderr).length >= 1,
      `the control page's errors are visible in the log:\n${control.stderr}`,
    );
    assert.deepEqual(consoleLines(report.stderr), []);

    assert.ok(fs.existsSync(screenshot), 'screenshot written');
    const { data, info } = await sharp(screenshot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 1200);
    const colours = new Set<number>();
    let magenta = 0;
    let cyan = 0;
    for (let i = 0; i < data.length; i += 3) {
      const [red, green, blue] = [data[i], data[i + 1], data[i + 2]];
      colours.add((red << 16) | (green << 8) | blue);
      if (red > 200 && green < 30 && blue > 100 && blue < 150) magenta++;
      if (red < 30 && green > 140 && green < 180 && blue > 200) cyan++;
    }
    assert.ok(colours.size > 50, `page is not blank (${colours.size} colours)`);
    assert.ok(magenta > 1000 && cyan > 1000, `both figures drawn (magenta ${magenta}, cyan ${cyan} pixels)`);
  });
});
