/**
 * Checks on an image before the network sees it: chest X-rays are grey, roughly square and at
 * least a few hundred pixels on a side. Anything else still gets classified (unless the user asks
 * to refuse), but carries a warning per problem, because the model was never trained on such input.
 */
import sharp from 'sharp';
import { imageSize } from '../core/contracts';
import { ImageDecodeError } from '../core/errors';

const inputLimits = {
  /** Smallest side, in pixels: below half the network's input the picture is blown up 2x or more. */
  minimumSide: imageSize / 2,
  /** Mean absolute difference between colour channels (0-255) above which an image is "coloured". */
  maximumChannelDifference: 8,
  /** Longest side over shortest side: chest X-rays are about 0.8 to 1.25. */
  maximumAspectRatio: 2,
};

export interface InputCheck {
  width: number;
  height: number;
  /** Mean over pixels of (|R-G| + |G-B| + |R-B|) / 3 on a 64x64 thumbnail; 0 for a grey image. */
  channelDifference: number;
  warnings: string[];
}

/** Size, aspect ratio and colour of one image file, with a warning for each unusual one. */
export async function checkInputImage(file: string, limits = inputLimits): Promise<InputCheck> {
  let width: number;
  let height: number;
  let channelDifference: number;
  try {
    const image = sharp(file, { failOn: 'error', limitInputPixels: 100_000_000 }).rotate();
    const metadata = await image.metadata();
    const rotated = (metadata.orientation ?? 1) >= 5;
    width = (rotated ? metadata.height : metadata.width) ?? 0;
    height = (rotated ? metadata.width : metadata.height) ?? 0;
    const { data } = await image
      .toColourspace('srgb')
      .removeAlpha()
      .resize(64, 64, { fit: 'fill' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    let total = 0;
    for (let i = 0; i < data.length; i += 3) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      total += (Math.abs(r - g) + Math.abs(g - b) + Math.abs(r - b)) / 3;
    }
    channelDifference = total / (data.length / 3);
  } catch (error) {
    throw new ImageDecodeError(`cannot be read as an image (${(error as Error).message.split('\n')[0]})`, file);
  }
  const warnings: string[] = [];
  const side = Math.min(width, height);
  if (side < limits.minimumSide)
    warnings.push(
      `small image: ${width}x${height} px, under ${limits.minimumSide} px on a side (the model sees ${imageSize}x${imageSize})`,
    );
  const aspect = Math.max(width, height) / Math.max(1, side);
  if (aspect > limits.maximumAspectRatio)
    warnings.push(`extreme aspect ratio ${aspect.toFixed(1)}:1 (${width}x${height}); chest X-rays are about square`);
  if (channelDifference > limits.maximumChannelDifference)
    warnings.push(
      `coloured image: mean channel difference ${channelDifference.toFixed(1)} (of 255); chest X-rays are grey`,
    );
  return { width, height, channelDifference, warnings };
}
