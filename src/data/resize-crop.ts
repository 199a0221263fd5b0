/**
 * The standard ImageNet evaluation geometry: resize so that the shorter side is round(size / 0.875),
 * keeping the aspect ratio, then take the centre size × size square (256 → 224 for 224 models,
 * 183 → 160 for 160 models, 219 → 192, 146 → 128). Browser-safe: only numbers here; the
 * resampling itself happens in node/images.ts (sharp) or in the page (canvas/tf).
 */

/** The crop fraction of the usual ImageNet evaluation (224/256). */
export const CROP_FRACTION = 0.875;

/** Where a photo goes: the size after the aspect-preserving resize, and the crop box in it. */
export interface ResizeCrop {
  /** Size after the aspect-preserving resize. */
  resizeWidth: number;
  resizeHeight: number;
  /** The crop box in the resized image. */
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Shorter side before cropping to `size`: round(size / 0.875). */
export function resizeShorterSide(size: number, cropFraction = CROP_FRACTION): number {
  return Math.round(size / cropFraction);
}

/**
 * Geometry for an image of srcWidth × srcHeight → outHeight × outWidth (usually square).
 * The shorter side becomes round(max(outW, outH) / cropFraction); the longer side is scaled in proportion
 * (rounded, and never below the crop); the crop is centred, offsets rounded down.
 * `cropFraction = 1` resizes the shorter side to the output size and crops only the longer side.
 */
export function resizeCropBox(
  srcWidth: number,
  srcHeight: number,
  outHeight: number,
  outWidth = outHeight,
  cropFraction = CROP_FRACTION,
): ResizeCrop {
  for (const [k, v] of Object.entries({ srcWidth, srcHeight, outHeight, outWidth })) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  if (!(cropFraction > 0 && cropFraction <= 1)) throw new RangeError(`cropFraction must be in (0, 1], got ${cropFraction}`);
  const short = resizeShorterSide(Math.max(outWidth, outHeight), cropFraction);
  let resizeWidth: number;
  let resizeHeight: number;
  if (srcWidth <= srcHeight) {
    resizeWidth = short;
    resizeHeight = Math.round((srcHeight * short) / srcWidth);
  } else {
    resizeHeight = short;
    resizeWidth = Math.round((srcWidth * short) / srcHeight);
  }
  resizeWidth = Math.max(resizeWidth, outWidth);
  resizeHeight = Math.max(resizeHeight, outHeight);
  return {
    resizeWidth,
    resizeHeight,
    left: Math.floor((resizeWidth - outWidth) / 2),
    top: Math.floor((resizeHeight - outHeight) / 2),
    width: outWidth,
    height: outHeight,
  };
}
