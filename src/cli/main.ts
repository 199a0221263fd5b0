import { Command } from 'commander';
import { registerClassify } from './classify.js';
import { registerCompute } from './compute.js';
import { registerModels } from './models.js';
import { registerDemo } from './demo.js';
import { exitWithError, oneLineCommanderErrors } from './errors.js';
import { registerEval } from './eval.js';
import { registerReport } from './report.js';
import { registerTrain } from './train.js';
import { registerTransfer } from './transfer.js';
import { registerSweep } from './sweep.js';
import { registerLabels } from './labels.js';
import { registerSubspace } from './subspace.js';
import { registerHarden } from './harden.js';
import { registerWorker } from './worker.js';
import { registerQueue } from './queue-status.js';
import { registerServe } from './serve.js';
import { registerApply } from './apply.js';
import { packageVersion } from './context.js';

/**
 * The `uap` command line: one file per command, each a thin shell over the library.
 * Errors are caught here once and printed as one line; the exit code says what kind of failure it was
 * (src/cli/errors.ts).
 */
const program = new Command('uap')
  .description('Universal adversarial perturbations for TF.js classifiers (Moosavi-Dezfooli et al., CVPR 2017)')
  .version(packageVersion, '--version', 'print the version of uap')
  .option('--backend <name>', 'tfjs backend: wasm (default in Node), tensorflow (tfjs-node, used when installed), cpu')
  .option('--engine <name>', 'ort (ONNX Runtime, default in Node when onnxruntime-node loads) or tfjs')
  .option('--device <name>', 'ort engine: cpu (default) or cuda (needs onnxruntime-node installed with CUDA, docs/engines.md)')
  .option('--threads <n>', 'ort engine: intra-op threads (default: every core)')
  .option('--workers <n>', 'worker threads running the model (tfjs: default one per core for wasm/cpu; ort: default 1, each worker with --threads threads, default 1; 1 = main thread only)')
  .exitOverride();

registerCompute(program);
registerClassify(program);
registerModels(program);
registerEval(program);
registerReport(program);
registerDemo(program);
registerTrain(program);
registerTransfer(program);
registerSweep(program);
registerLabels(program);
registerSubspace(program);
registerHarden(program);
registerWorker(program);
registerQueue(program);
registerServe(program);
registerApply(program);

oneLineCommanderErrors(program);

// The command whose action runs: library options in error messages become its flags.
let running: Command | undefined;
program.hook('preAction', (_program, action) => {
  running = action;
});
// Errors outside the action's promise chain (a tfjs callback, a stray rejection) are one line too.
process.on('uncaughtException', (err) => exitWithError(err, running));
process.on('unhandledRejection', (err) => exitWithError(err, running));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  exitWithError(err, running);
}
