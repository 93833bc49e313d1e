import { strict as assert } from 'assert';
import sharp from 'sharp';
import { confusionMatrixChart, imageGrid, lineChart, rgbToPng, seriesColours } from '../lib/view';

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function decode(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  assert.ok(png.subarray(0, 8).equals(pngSignature), 'PNG signature');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function hexToRgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16)) as [number, number, number];
}

/** Pixels within `tolerance` of the colour in every channel. */
function countColour(image: { data: Buffer }, [red, green, blue]: [number, number, number], tolerance = 6): number {
  let count = 0;
  for (let i = 0; i < image.data.length; i += 3) {
    if (
      Math.abs(image.data[i] - red) <= tolerance &&
      Math.abs(image.data[i + 1] - green) <= tolerance &&
      Math.abs(image.data[i + 2] - blue) <= tolerance
    )
      count++;
  }
  return count;
}

function pixel(image: { data: Buffer; width: number }, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 3;
  return Array.from(image.data.subarray(offset, offset + 3));
}

describe('lineChart', () => {
  const training = { title: 'Training accuracy', xLabel: 'Epoch', yLabel: 'Accuracy', integerXTicks: true };

  it('draws a PNG of the requested size with both series in their colours', async () => {
    const png = lineChart({
      ...training,
      width: 640,
      height: 400,
      series: [
        { name: 'training', x: [1, 2, 3], y: [0.87, 0.96, 0.987] },
        { name: 'validation', x: [1, 2, 3], y: [0.9, 0.94, 0.95], dashed: true },
      ],
    });
    const image = await decode(png);
    assert.equal(image.width, 640);
    assert.equal(image.height, 400);
    assert.ok(countColour(image, hexToRgb(seriesColours[0])) > 100, 'first series colour');
    assert.ok(countColour(image, hexToRgb(seriesColours[1])) > 100, 'second series colour');
  });

  it('uses 720x450 by default', async () => {
    const image = await decode(lineChart({ ...training, series: [{ name: 'training', x: [1, 2], y: [0.5, 0.6] }] }));
    assert.deepEqual([image.width, image.height], [720, 450]);
  });

  it('shows a single epoch as a marker', async () => {
    const image = await decode(lineChart({ ...training, series: [{ name: 'training', x: [1], y: [0.42] }] }));
    assert.ok(countColour(image, hexToRgb(seriesColours[0])) > 20, 'marker drawn');
  });

  it('copes with NaN, all-NaN and empty series and with no series at all', async () => {
    const charts = [
      lineChart({ ...training, series: [{ name: 'gap', x: [1, 2, 3, 4], y: [0.5, NaN, 0.7, 0.8] }] }),
      lineChart({ ...training, series: [{ name: 'all NaN', x: [1, 2], y: [NaN, NaN] }] }),
      lineChart({ ...training, series: [{ name: 'empty', x: [], y: [] }] }),
      lineChart({ ...training, series: [] }),
    ];
    for (const png of charts) assert.equal((await decode(png)).width, 720);
  });

  it('draws the dashed diagonal for ROC curves', async () => {
    const withDiagonal = await decode(
      lineChart({
        title: 'ROC',
        xLabel: 'FPR',
        yLabel: 'TPR',
        xDomain: [0, 1],
        yDomain: [0, 1],
        diagonal: true,
        series: [],
      }),
    );
    const without = await decode(
      lineChart({ title: 'ROC', xLabel: 'FPR', yLabel: 'TPR', xDomain: [0, 1], yDomain: [0, 1], series: [] }),
    );
    assert.ok(countColour(withDiagonal, [154, 154, 154], 10) > countColour(without, [154, 154, 154], 10) + 50);
  });

  it('rejects mismatched series and bad domains', () => {
    assert.throws(() => lineChart({ ...training, series: [{ name: 'bad', x: [1, 2], y: [1] }] }), /"bad".*same length/);
    assert.throws(() => lineChart({ ...training, series: [], xDomain: [1, 1] }), /xDomain/);
    assert.throws(() => lineChart({ ...training, series: [], width: 10 }), /chart width/);
  });
});

describe('confusionMatrixChart', () => {
  it('shades the cells by count', async () => {
    const image = await decode(
      confusionMatrixChart(
        [
          [412, 17],
          [28, 438],
        ],
        ['COVID-19', 'NORMAL'],
      ),
    );
    assert.ok(image.width >= 300 && image.height >= 300);
    // The largest count gets the darkest blue, the smallest a near-white blue.
    assert.ok(countColour(image, [8, 48, 107], 2) > 1000, 'dark cell');
    assert.ok(countColour(image, [238, 245, 252], 8) > 1000, 'light cell');
  });

  it('handles an all-zero matrix', async () => {
    assert.ok(
      (
        await decode(
          confusionMatrixChart(
            [
              [0, 0],
              [0, 0],
            ],
            ['a', 'b'],
            'empty',
          ),
        )
      ).width > 0,
    );
  });

  it('rejects a matrix that does not match the class names', () => {
    assert.throws(() => confusionMatrixChart([[1, 2]], ['a', 'b']), /must be 2x2/);
    assert.throws(
      () =>
        confusionMatrixChart(
          [
            [1, -2],
            [0, 1],
          ],
          ['a', 'b'],
        ),
      /non-negative/,
    );
  });
});

describe('imageGrid', () => {
  function solid(colour: [number, number, number], width: number, height: number): Uint8Array {
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set(colour, i);
    return rgb;
  }

  it('lays out rows of captioned images', async () => {
    const red = { rgb: solid([220, 20, 20], 20, 20), width: 20, height: 20, caption: 'NORMAL (1).png\nP(NORMAL) 0.98' };
    const green = { rgb: solid([20, 200, 20], 40, 20), width: 40, height: 20, caption: 'wide' };
    const png = imageGrid({
      title: 'Grad-CAM',
      cellSize: 80,
      rows: [
        { label: 'NORMAL', images: [red, green, red] },
        { label: 'COVID-19', images: [green] },
      ],
    });
    const image = await decode(png);
    // 12 margin + 34 label + 3 cells of 80 + 2 gaps of 12 + 12 margin.
    assert.equal(image.width, 12 + 34 + 3 * 80 + 2 * 12 + 12);
    // The first image is scaled to fill its cell: its centre keeps the image colour.
    const firstCellCentre = pixel(image, 12 + 34 + 40, 44 + 12 + 40);
    assert.deepEqual(firstCellCentre, [220, 20, 20]);
    assert.ok(countColour(image, [20, 200, 20], 2) > 2 * 80 * 40 * 0.9, 'two wide green images, letterboxed');
  });

  it('rejects an empty grid and images of the wrong size', () => {
    assert.throws(() => imageGrid({ rows: [] }), /at least one/);
    assert.throws(
      () => imageGrid({ rows: [{ label: 'x', images: [{ rgb: new Uint8Array(5), width: 2, height: 2 }] }] }),
      /expected 2x2x3 = 12/,
    );
  });
});

describe('rgbToPng', () => {
  it('encodes every pixel exactly', async () => {
    const width = 5;
    const height = 3;
    const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);
    const image = await decode(rgbToPng(rgb, width, height));
    assert.deepEqual([image.width, image.height], [width, height]);
    assert.deepEqual(Array.from(image.data), Array.from(rgb));
  });

  it('rejects a buffer of the wrong length', () => {
    assert.throws(() => rgbToPng(new Uint8Array(10), 2, 2), /expected 2x2x3 = 12 RGB bytes, got 10/);
  });
});
