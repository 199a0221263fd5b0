/**
 * `uap`: the browser-safe core. Universal adversarial perturbations (Moosavi-Dezfooli et al., CVPR 2017) for
 * any {@link Classifier} (pixels 0..255, NHWC, in; logits out). The folders read as the flow of the library:
 * data → models → attacks → eval → defense → report; nothing here touches the file system or Node built-ins,
 * so the same code runs in a browser. Node's edges (model files, datasets, image decoding, worker pools,
 * checkpoints, backend choice) are in `uap/node`.
 *
 * @packageDocumentation
 * @module uap
 */

// errors and version
export { EXIT_CODES, UapError, type OptionHint, type UapErrorCode, type UapErrorDetails } from './errors.js';
export { VERSION } from './version.js';

// data: images in memory and by index
export { batchTensor, concatBatches, imageAt, imageSize, selectBatch, sliceBatch, type Batch } from './data/batch.js';
export { batchSource, wideBatchSource } from './data/batch-source.js';
export { tensorSource, type ImageSource } from './data/image-source.js';
export { AUGMENT_DEFAULTS, augmentImages, type AugmentOptions } from './data/augment.js';
export { parseIdxImages, parseIdxLabels, type MnistImages } from './data/mnist.js';
export { CROP_FRACTION, resizeCropBox, resizeShorterSide, type ResizeCrop } from './data/resize-crop.js';
export { resizeCropPixels, type PixelImage } from './data/resample.js';
export { APPLY_DEFAULTS, applyPerturbationToPhoto, type AppliedPhoto, type ApplyOptions } from './data/apply-perturbation.js';

// models: the Classifier contract and loading (file access through an injectable ModelIO)
export {
  hasPerturbationGradient,
  hasPerturbedLogits,
  numClasses,
  type Classifier,
  type LogitObjective,
  type PerturbationGradient,
  type PerturbedLogits,
} from './models/classifier.js';
export { digitLabels, findClass, parseSynsetWords, type Labels } from './models/labels.js';
export { imagenetLabels } from './models/imagenet-classes.js';
export type { DownloadOptions } from './io/download.js';
export { fetchModelIO, loadModel, urlFolder, type FetchLike, type LoadOptions, type ModelFolder, type ModelIO, type UrlFolderOptions } from './models/load.js';
export type { Preprocessing } from './models/loaders/common.js';
export type { OnnxInputOptions, OnnxLayout } from './models/loaders/onnx.js';
export { NetClassifier } from './models/net-classifier.js';
export { EnsembleClassifier } from './models/ensemble.js';
// the Net IR behind every NetClassifier, and its gradient engine (for custom attacks and profiling)
export type { Activation, Net, NetNode, NetOp, Padding } from './models/net/ir.js';
export { applyOp, forwardValues, runNet } from './models/net/forward.js';
export { backwardNet, setBackwardProfiler } from './models/net/backward.js';
// the Net IR as ONNX graphs (logits; logits + input gradients), which uap/node's ONNX Runtime engine runs
export { exportGradGraph, exportLogitsGraph, exportPerturbationGradGraph, exportPerturbedLogitsGraph, type ExportOptions, type PerturbationObjective } from './models/onnx/export.js';
export { netShapes } from './models/onnx/export-geometry.js';
export { findZooEntry, getZooEntry, ZOO, zooNames, type LabelLayout, type ModelFormat, type ZooEntry } from './models/zoo.js';
export { predict, predictBatch } from './models/predict.js';
export { buildMnistCnn, trainClassifier, type TrainData, type TrainOptions } from './models/train/mnist-cnn.js';

// attacks
export { lpNorm, projectLp, type LpNorm } from './attacks/project.js';
export {
  deepfool,
  DEEPFOOL_DEFAULTS,
  resolveDeepFoolOptions,
  type DeepFoolOptions,
  type DeepFoolResult,
  type ResolvedDeepFoolOptions,
} from './attacks/deepfool.js';
export { criterionFor, misclassification, successRate, targetedMisclassification, type Criterion } from './attacks/criteria.js';
export {
  PASS_DEFAULTS,
  type PassOptions,
  type PassProgress,
  type PassRecord,
  type PassResult,
  type PassState,
  type ResolvedPassOptions,
} from './attacks/pass-driver.js';
export {
  resolveUniversalOptions,
  UNIVERSAL_DEFAULTS,
  universalPerturbation,
  type ResolvedUniversalOptions,
  type UniversalOptions,
  type UniversalProgress,
  type UniversalResult,
} from './attacks/universal.js';
export {
  resolveSgdOptions,
  SGD_DEFAULTS,
  SGD_LOSSES,
  SGD_OPTIMIZERS,
  sgdPerturbation,
  type ResolvedSgdOptions,
  type SgdOptions,
  type SgdProgress,
} from './attacks/sgd.js';
export { resolveSgaOptions, SGA_DEFAULTS, sgaPerturbation, type ResolvedSgaOptions, type SgaOptions } from './attacks/sga.js';
export { DEFAULT_BETA, type SgdLoss } from './attacks/sgd-loss.js';
export { batchGradient, localSgdEngine, type GradientRequest, type SgdEngine, type SgdEngineFactory, type SgdEngineSettings, type SgdLossSettings } from './attacks/sgd-engine.js';

// evaluation
export { evaluatePerturbation, type EvaluateOptions, type Evaluation } from './eval/fooling-rate.js';
export { accuracy, type Accuracy } from './eval/accuracy.js';
export { randomPerturbation, type NoiseKind } from './eval/random-noise.js';
export { sizeSweep, sweepSummary, type SweepOptions, type SweepPoint, type SweepResult } from './eval/sweep.js';
export {
  formatTransferTable,
  resizePerturbation,
  transferColumn,
  transferMatrix,
  uniqueLabels,
  type LazyTransferColumn,
  type TransferCell,
  type TransferColumn,
  type TransferMatrix,
  type TransferOptions,
  type TransferRow,
} from './eval/transfer.js';
export { dominantLabels, formatDominantLabels, type DominantLabel, type DominantLabels } from './eval/dominant-labels.js';
export { addCounts, concatShards, countShard, inShardOrder, ratesOf, shardRanges, sumGradients, type PerturbedCounts, type ShardCounts, type ShardRange } from './eval/shard-counts.js';
export { subspaceAnalysis, type SubspaceOptions, type SubspaceResult } from './eval/subspace.js';

// defense
export { finetuneWithPerturbations, type DefenseProgress, type DefenseResult, type FinetuneOptions, type TrainingSet } from './defense/finetune.js';
export { universalAdversarialTraining, type UatOptions, type UatResult } from './defense/universal-adversarial-training.js';
export { freezeAllButLast } from './defense/head.js';
export {
  runHarden,
  type AttackRecord,
  type HardenAttack,
  type HardenCheckpointOf,
  type HardenControl,
  type HardenLabels,
  type HardenMethod,
  type HardenReport,
  type HardenSettings,
  type HardenStores,
  type SideRecord,
} from './defense/harden.js';
export type { AttackInProgress, DoneAttack, HardenCheckpointStore, HardenState, TrainingState } from './defense/checkpoint.js';
export type { ModelStore } from './defense/model-store.js';
export { layersModelFiles, loadLayersModelFromFolder } from './defense/layers-model.js';

// .npy and perturbation records
export { isNpy, readNpy, writeNpy, type NpyArray } from './io/npy.js';
export {
  parsePerturbationJson,
  parsePerturbationRecord,
  PERTURBATION_FORMAT_VERSION,
  validatePerturbation,
  type PerturbationRecord,
} from './io/perturbation-record.js';
export { addPerturbation, perturbationToImage, pixelsToImage, type Image8 } from './io/perturbation-image.js';
export {
  EvalResultSchema,
  HardenResultSchema,
  LabelsResultSchema,
  parseResult,
  serializeResult,
  SubspaceResultSchema,
  SweepResultSchema,
  TransferResultSchema,
  type EvalResultFile,
  type HardenResultFile,
  type LabelsResultFile,
  type SubspaceResultFile,
  type SweepResultFile,
  type TransferResultFile,
} from './io/results.js';

export { ApplyResultSchema, AppliedPhotoSchema, ApplyCheckSchema, type ApplyResultFile, type AppliedPhotoRecord } from './io/apply-result.js';

// report
export { renderReport, type ReportData } from './report/html.js';
export { renderContactSheet, type ContactThumbs } from './report/contact-sheet.js';
export { makeSamples, type SampleOptions } from './report/samples.js';

// measures and data-free priors (issue #15: the error rate beside the fooling rate; prior:gaussian|jigsaw)
export { accuracyOn, errorRate } from './attacks/criteria.js';
export { PRIOR_DEFAULTS, PRIOR_KINDS, priorBatch, priorImage, priorSource, resolvePrior, type PriorKind, type PriorOptions, type ResolvedPriorOptions } from './data/priors.js';
