import { UapError } from '../errors.js';

/**
 * A Gaussian blur of a gradient over the image plane, each channel apart (`--smooth σ`, in pixels): the
 * gradient attacks step along sign(G ∗ k_σ) instead of sign(G). Why: the sign of a raw minibatch gradient
 * changes from pixel to pixel wherever a few images disagree, so v learns the fine texture of the photos of X;
 * the sign of the blurred gradient is constant over blobs of about σ pixels, the directions on which the
 * images' gradients agree over a neighbourhood (TI-FGSM's argument, Dong et al. CVPR 2019, there for transfer
 * between models). A v built of such blobs has fewer degrees of freedom to overfit X with, and lives at the
 * low frequencies that survive a resize or a JPEG re-encoding. σ = 0 is the identity.
 *
 * The kernel is the sampled Gaussian exp(−t²/2σ²), |t| ≤ ⌈3σ⌉, applied along rows then columns; at the border
 * the part of the kernel outside the image is dropped and the rest renormalised, so a constant gradient stays
 * constant (no dark frame). O(H·W·C·σ).
 */
export function smoothGradient(g: Float32Array, shape: readonly [number, number, number], sigma: number): Float32Array {
  const [h, w, c] = shape;
  if (g.length !== h * w * c) throw new UapError('BAD_ARGUMENT', `a gradient of ${g.length} values for a ${h}×${w}×${c} image`, 'gradient');
  if (checkSmooth(sigma) === 0) return g;
  const r = Math.ceil(3 * sigma);
  const k = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  // one 1-D pass: `n` positions `step` apart, `count` lines starting at line(j)
  const pass = (src: Float32Array, n: number, step: number, lines: number, line: (j: number) => number) => {
    const out = new Float32Array(src.length);
    for (let j = 0; j < lines; j++) {
      const base = line(j);
      for (let p = 0; p < n; p++) {
        let s = 0;
        let wsum = 0;
        for (let t = Math.max(-r, -p); t <= Math.min(r, n - 1 - p); t++) {
          s += k[t + r]! * src[base + (p + t) * step]!;
          wsum += k[t + r]!;
        }
        out[base + p * step] = s / wsum;
      }
    }
    return out;
  };
  // along x: lines are (row, channel); along y: lines are (column, channel)
  const alongX = pass(g, w, c, h * c, (j) => Math.floor(j / c) * w * c + (j % c));
  return pass(alongX, h, w * c, w * c, (j) => j);
}

/** Checks a --smooth σ: a finite number ≥ 0. */
export function checkSmooth(sigma: number): number {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new UapError('BAD_ARGUMENT', `must be a finite number ≥ 0 (pixels), got ${sigma}`, 'smooth');
  return sigma;
}
