import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { ImageDecodeError } from '../lib/core/errors';
import { caffeMeanBgr, caffePreprocess, loadImageRgb } from '../lib/data/images';
import { cxrDir, temporaryFolder } from './helpers';

describe('images: decoding and caffe preprocessing', () => {
  const xray = path.join(cxrDir, 'COVID', 'COVID-2000.png');
  let folder: string;
  before(async () => {
    folder = temporaryFolder('images');
    await sharp(xray).greyscale().toColourspace('grey16').png().toFile(path.join(folder, 'grey16.png'));
    await sharp(xray).ensureAlpha().png().toFile(path.join(folder, 'rgba.png'));
    await sharp(xray).resize(640, 512).toColourspace('cmyk').jpeg().toFile(path.join(folder, 'cmyk.jpg'));
    await sharp(xray)
      .resize(448, 448, { kernel: 'nearest' })
      .jpeg({ quality: 100 })
      .toFile(path.join(folder, 'large.jpg'));
    fs.writeFileSync(path.join(folder, 'not-an-image.png'), 'this is text');
    fs.writeFileSync(path.join(folder, 'zero.png'), '');
    fs.writeFileSync(path.join(folder, 'truncated.png'), fs.readFileSync(xray).subarray(0, 4000));
  });

  it('decodes a real X-ray to 224x224 RGB with grey copied to three channels', async () => {
    const image = await loadImageRgb(xray);
    assert.equal(image.rgb.length, 224 * 224 * 3);
    const raw = await sharp(xray).raw().toBuffer();
    assert.deepEqual(Array.from(image.rgb.subarray(0, 300)), Array.from(raw.subarray(0, 300)));
  });

  it('reads 16-bit grey and RGBA PNGs as the same picture', async () => {
    const reference = await loadImageRgb(xray);
    for (const name of ['grey16.png', 'rgba.png']) {
      const image = await loadImageRgb(path.join(folder, name));
      let maxDifference = 0;
      for (let i = 0; i < image.rgb.length; i++)
        maxDifference = Math.max(maxDifference, Math.abs(image.rgb[i] - reference.rgb[i]));
      assert.ok(maxDifference <= 1, `${name} differs by ${maxDifference}`);
    }
  });

  it('resizes other sizes and reads CMYK JPEGs', async () => {
    for (const name of ['cmyk.jpg', 'large.jpg']) {
      const image = await loadImageRgb(path.join(folder, name));
      assert.equal(image.width, 224);
      assert.equal(image.rgb.length, 224 * 224 * 3);
    }
  });

  it('preprocesses known pixels the Keras "caffe" way: BGR order minus the ImageNet mean', () => {
    const pixels = new Uint8Array([255, 0, 0, 10, 20, 30]);
    const output = caffePreprocess(pixels);
    const expected = [0 - 103.939, 0 - 116.779, 255 - 123.68, 30 - 103.939, 20 - 116.779, 10 - 123.68];
    expected.forEach((value, i) =>
      assert.ok(Math.abs(output[i] - value) < 1e-4, `index ${i}: ${output[i]} vs ${value}`),
    );
    assert.deepEqual(caffeMeanBgr, [103.939, 116.779, 123.68]);
  });

  for (const [name, problem] of [
    ['not-an-image.png', /not a PNG or JPEG image/],
    ['zero.png', /empty \(zero-byte\) file/],
    ['truncated.png', /cannot be read as an image/],
    ['missing.png', /file not found/],
  ] as const) {
    it(`gives a clear error naming ${name}`, async () => {
      const file = path.join(folder, name);
      await assert.rejects(
        loadImageRgb(file),
        (error: Error) =>
          error instanceof ImageDecodeError && error.message.startsWith(file) && problem.test(error.message),
      );
    });
  }
});
