import type { Command } from 'commander';
import {
  accuracy,
  batchSource,
  evaluatePerturbation,
  findClass,
  lpNorm,
  randomPerturbation,
  serializeResult,
  EvalResultSchema,
  UapError,
  type Evaluation,
  type NoiseKind,
} from '../index.js';
import { loadPerturbation } from '../node/index.js';
import { openData, openModel } from './context.js';
import { addImageOptions, addModelAndData, addRunOptions, fmtPct, int, norm, positive, type SharedFlags } from './options.js';
import { fmtErrorRate, progressBar } from './progress.js';
import { addQueueOptions, queuedEvalCommand, type QueueFlags } from './queued.js';

interface EvalFlags extends SharedFlags, QueueFlags {
  perturbation?: string;
  random?: string;
  norm: string;
  xi?: string;
  target?: string;
}

/** `uap eval`: fooling rate of a perturbation (or of random noise), or plain accuracy without one. */
export function registerEval(program: Command): void {
  const cmd = addModelAndData(program.command('eval').description('fooling rate (top-1 changed), error rate (wrong against the true labels) and clean/perturbed accuracy of a perturbation; top-1/top-5 accuracy without one'), 'mnist:test, a folder, a list file, or comma-separated files')
    .option('--perturbation <file>', 'perturbation.npy (or its folder)')
    .option('--random <kind>', 'evaluate random noise instead: sign, uniform or gaussian (needs --xi)')
    .option('--norm <p>', 'norm of the random noise', 'inf')
    .option('--xi <x>', 'norm of the random noise, pixel units')
    .option('--target <class>', 'also report the share sent to this class (index, wnid or name)');
  addImageOptions(cmd, { limit: 'first n images of a seeded shuffle', seed: 'seed for --limit and --random' });
  addRunOptions(addQueueOptions(cmd), { clip: 'do not clip x + v to 0..255', batchSize: true, json: 'print one JSON object on stdout' }).action(async (f: EvalFlags) => {
    const out = await evalCommand(program, f);
    if (f.json) console.log(serializeResult(EvalResultSchema, out, 'uap eval --json', 0));
    else for (const line of out.lines) console.log(line);
  });
}

export async function evalCommand(program: Command, f: EvalFlags): Promise<Record<string, unknown> & { lines: string[] }> {
  if (f.queue) return queuedEvalCommand({ ...f, queue: f.queue });
  const seed = int('--seed', f.seed);
  const batchSize = int('--batch-size', f.batchSize, 1);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  if (f.perturbation && f.random) throw new UapError('BAD_ARGUMENT', 'give --perturbation or --random, not both', '--random');
  if (f.random && !['sign', 'uniform', 'gaussian'].includes(f.random)) {
    throw new UapError('BAD_ARGUMENT', `must be sign, uniform or gaussian, got "${f.random}"`, '--random');
  }
  const p = norm('--norm', f.norm);
  if (f.random && f.xi === undefined) throw new UapError('BAD_ARGUMENT', 'is required with --random (the norm of the noise, in pixels)', '--xi');
  const xi = f.random ? positive('--xi', f.xi!) : undefined;

  const model = await openModel(program, f.model, f.modelsDir);
  try {
    // Read and validate the perturbation before decoding any data: a bad file fails fast.
    const loaded = f.perturbation ? await loadPerturbation(f.perturbation, { expectShape: model.inputShape }) : undefined;
    for (const w of loaded?.warnings ?? []) console.error(`warning: ${w}`);
    const v = loaded
      ? loaded.data
      : f.random
        ? randomPerturbation(f.random as NoiseKind, model.inputShape.reduce((a, b) => a * b, 1), p, xi!, seed)
        : undefined;
    let target: number | undefined;
    if (f.target !== undefined) {
      target = findClass(model.labels, f.target);
      if (target < 0) throw new UapError('BAD_ARGUMENT', `no class "${f.target}" in ${model.id}'s labels`, '--target');
    }
    const data = await openData(f.data, model, { limit, seed });
    const bar = progressBar('eval');
    bar.start(data.n, 0, { status: '' });
    const onProgress = (e: { done: number }) => bar.update(e.done);
    if (!v) {
      const acc = await accuracy(model, batchSource(data), data.labels, batchSize, onProgress);
      bar.stop();
      return {
        model: model.id,
        data: f.data,
        n: acc.n,
        labelled: acc.labelled,
        accuracyTop1: acc.top1,
        accuracyTop5: acc.top5,
        lines: [`${model.id} on ${f.data}: top-1 ${fmtPct(acc.top1)}, top-5 ${fmtPct(acc.top5)} (${acc.labelled} labelled of ${acc.n})`],
      };
    }
    const e: Evaluation = await evaluatePerturbation(model, batchSource(data), data.labels, v, { clip: f.clip, batchSize, onProgress, target });
    bar.stop();
    const what = f.perturbation ?? `random ${f.random} noise, ‖·‖${p === 'inf' ? '∞' : p} = ${xi}`;
    // The size of what was measured, whatever its record says (issue #11: a v over its ξ went unnoticed).
    const normInf = lpNorm(v, 'inf');
    const norm2 = lpNorm(v, 2);
    return {
      model: model.id,
      data: f.data,
      perturbation: what,
      clip: f.clip,
      n: e.n,
      labelled: e.labelled,
      foolingRate: e.foolingRate,
      errorRate: e.errorRate,
      accuracyClean: e.accuracyClean,
      accuracyPerturbed: e.accuracyPerturbed,
      normInf,
      norm2,
      ...(loaded?.record ? { recordNorm: loaded.record.norm, recordXi: loaded.record.xi } : {}),
      ...(target === undefined ? {} : { target, targetName: model.labels.names[target], targetSuccess: e.targetSuccess }),
      lines: [
        ...(target === undefined ? [] : [`  sent to target ${model.labels.names[target]}: ${fmtPct(e.targetSuccess ?? NaN)}`]),
        `${what} on ${model.id}, ${f.data} (n = ${e.n}; x + v ${f.clip ? 'clipped' : 'not clipped'} to 0..255):`,
        `  ‖v‖∞ ${normInf.toFixed(2)}, ‖v‖₂ ${norm2.toFixed(1)} (pixels)${loaded?.record ? `; its record: ξ = ${loaded.record.xi} (ℓ${loaded.record.norm === 'inf' ? '∞' : loaded.record.norm})` : ''}`,
        `  fooling rate        ${fmtPct(e.foolingRate)}   (top-1 on x + v differs from top-1 on x; the paper's measure)`,
        `  error rate          ${fmtErrorRate(e.errorRate)}${Number.isNaN(e.errorRate) ? '' : `   (top-1 on x + v is not the true label, over ${e.labelled} labelled; = 1 − perturbed accuracy)`}`,
        `  accuracy, clean     ${fmtPct(e.accuracyClean)}`,
        `  accuracy, perturbed ${fmtPct(e.accuracyPerturbed)}`,
      ],
    };
  } finally {
    model.dispose();
  }
}
