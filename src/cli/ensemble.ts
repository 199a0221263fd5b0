import type { Command } from 'commander';
import { EnsembleClassifier, type Classifier } from '../index.js';
import { openModel } from './context.js';

/**
 * `--model a,b,c`: one model, or an ensemble of them (EnsembleClassifier: the attack's loss summed over the models,
 * each with its own preprocessing; v at the largest member's input size, resized for the smaller ones). A model
 * that fails to load frees the ones already loaded.
 */
export async function openModelOrEnsemble(program: Command, spec: string, modelsDir?: string): Promise<Classifier> {
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length <= 1) return openModel(program, spec, modelsDir);
  const members: Classifier[] = [];
  try {
    for (const name of names) members.push(await openModel(program, name, modelsDir));
    const e = new EnsembleClassifier(members);
    console.error(`ensemble of ${members.length} models: the loss is summed over ${members.map((m) => m.id).join(', ')}`);
    const size = (m: Classifier) => m.inputShape.slice(0, 2).join('×');
    const resized = members.filter((m) => size(m) !== size(e));
    if (resized.length > 0) console.error(`v is ${size(e)}; resized to ${resized.map((m) => `${size(m)} for ${m.id}`).join(', ')}`);
    return e;
  } catch (err) {
    for (const m of members) m.dispose();
    throw err;
  }
}
