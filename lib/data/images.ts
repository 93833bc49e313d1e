/**
 * Image loading: any PNG/JPEG (grey, RGB, RGBA, 16-bit, CMYK) becomes 224x224 RGB bytes via sharp,
 * then the Keras "caffe" preprocessing that ResNet50's ImageNet weights expect.
 */
import * as fs from 'fs';
import sharp from 'sharp';
import { imageSize } from '../core/contracts';
import { ImageDecodeError } from '../core/errors';
import type { PreprocessingSettings } from '../core/preprocessing';
import { applyMitigation, cropBox } from './mitigations';

/** ImageNet mean in BGR order, as Keras' preprocess_input(mode="caffe") subtracts it. */
export const caffeMeanBgr = [103.939, 116.779, 123.68] as const;

export interface RgbImage {
  /** Interleaved RGB bytes, row-major, width*height*3. */
  rgb: Uint8Array;
  width: number;
  height: number;
}

// One libvips worker per image; our own pipeline decides how many images run at once.
sharp.concurrency(1);

/**
 * Decodes and resizes like Keras' flow_from_directory: stretched to size x size (no aspect
 * preservation), nearest-neighbour interpolation, alpha dropped, grey copied to three channels.
 * With a mitigation (config.preprocessing), the border is cropped before the resize, or the resized
 * image masked or equalised (lib/data/mitigations.ts).
 */
export async function loadImageRgb(
  filePath: string,
  size = imageSize,
  preprocessing?: PreprocessingSettings,
): Promise<RgbImage> {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(filePath);
  } catch {
    throw new ImageDecodeError('file not found', filePath);
  }
  if (!stats.isFile()) throw new ImageDecodeError('is not a file', filePath);
  if (stats.size === 0) throw new ImageDecodeError('is an empty (zero-byte) file', filePath);
  try {
    let decoded = sharp(filePath, { failOn: 'error', limitInputPixels: 100_000_000 })
      .rotate() // honour EXIF orientation
      .toColourspace('srgb')
      .removeAlpha();
    if (preprocessing?.mitigation === 'crop-border') {
      // Cropped in a second pass: the crop box is a fraction of the image as oriented and decoded.
      const whole = await decoded.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      const raw = { width: whole.info.width, height: whole.info.height, channels: whole.info.channels };
      decoded = sharp(whole.data, { raw: raw }).extract(cropBox(raw.width, raw.height, preprocessing.cropFraction));
    }
    const { data, info } = await decoded
      .resize(size, size, { fit: 'fill', kernel: 'nearest' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    return { rgb: preprocessing ? await applyMitigation(rgb, size, preprocessing) : rgb, width: size, height: size };
  } catch (error) {
    throw new ImageDecodeError(`cannot be read as an image (${describeSharpError(error)})`, filePath);
  }
}

function describeSharpError(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  if (/unsupported image format/i.test(message)) return 'not a PNG or JPEG image';
  if (/pixel limit/i.test(message)) return 'image too large: over 100 megapixels';
  return message.split('\n')[0];
}

/** Keras preprocess_input(mode="caffe"): RGB -> BGR, subtract the ImageNet mean, no scaling. */
export function caffePreprocess(
  rgb: Uint8Array,
  output = new Float32Array(rgb.length),
  outputOffset = 0,
): Float32Array {
  for (let i = 0; i < rgb.length; i += 3) {
    output[outputOffset + i] = rgb[i + 2] - caffeMeanBgr[0];
    output[outputOffset + i + 1] = rgb[i + 1] - caffeMeanBgr[1];
    output[outputOffset + i + 2] = rgb[i] - caffeMeanBgr[2];
  }
  return output;
}
