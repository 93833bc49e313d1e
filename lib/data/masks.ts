/**
 * Lung masks for the shortcut audit: one PNG per image, with the image's file name, in a folder of
 * the user's (the Kaggle release of the COVID-19 Radiography Database ships them). White = lung.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { DatasetError, ImageDecodeError } from '../core/errors';

export interface LungMask {
  /** size x size, 1 inside the lungs. */
  mask: Uint8Array;
  /** The mask file's own size: when it differs from the model's input, it was resized. */
  originalWidth: number;
  originalHeight: number;
}

/** The folder must exist and be a folder; a clear error otherwise. */
export function checkMaskFolder(folder: string): void {
  if (!fs.existsSync(folder)) throw new DatasetError(`lung-mask folder ${folder} does not exist`);
  if (!fs.statSync(folder).isDirectory()) throw new DatasetError(`lung-mask folder ${folder} is not a folder`);
}

/** The mask file of an image: the same file name in the mask folder, or undefined when there is none. */
export function maskFileFor(folder: string, imageFile: string): string | undefined {
  const candidate = path.join(folder, path.basename(imageFile));
  return fs.existsSync(candidate) ? candidate : undefined;
}

/** Decodes a mask as grey, resized (nearest) to size x size like the images, thresholded at half. */
export async function loadLungMask(file: string, size = 224): Promise<LungMask> {
  try {
    const image = sharp(file, { failOn: 'error' });
    const metadata = await image.metadata();
    const { data } = await image
      .greyscale()
      .resize(size, size, { fit: 'fill', kernel: 'nearest' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const channels = data.length / (size * size);
    const mask = new Uint8Array(size * size);
    for (let i = 0; i < mask.length; i++) mask[i] = data[i * channels] >= 128 ? 1 : 0;
    return { mask, originalWidth: metadata.width ?? size, originalHeight: metadata.height ?? size };
  } catch (error) {
    throw new ImageDecodeError(`cannot be read as a lung mask (${(error as Error).message.split('\n')[0]})`, file);
  }
}
