/**
 * `uap/node`: the Node edges of uap — model files and URLs (offline first: models dir, cache, then download),
 * datasets (MNIST, photo folders and lists, decoded with sharp), perturbation and report files, a worker-thread
 * classifier pool, hardened-model checkpoints and the tfjs backend choice. Everything else is in `uap`.
 *
 * @packageDocumentation
 * @module uap/node
 */

// backend
export { initBackend, type BackendName, type InitBackendOptions } from '../tensor/backend.js';

// models on disk and behind URLs; loadModel here reads files (the core's loadModel takes any ModelIO)
export {
  defaultCacheDir,
  loadModel,
  localFolder,
  nodeModelIO,
  zooLocations,
  type NodeLoadOptions,
  type NodeModelIOOptions,
  type ZooLocation,
} from './model-files.js';
export { saveLayersModel } from './save-layers-model.js';

// datasets and images
export { loadDataset, resolveDatasetSpec, type LoadDatasetOptions } from './datasets.js';
export { decodeImage, decodeImages, IMAGE_EXTENSIONS, type DecodeOptions, type ResizeKernel } from './images.js';
export { loadMnist, type MnistData, type MnistSplit } from './mnist-files.js';

// uap apply: perturbed copies of photos at their own size, and their check
export { APPLY_LOCK, applyToFiles, lockOutDir, perturbPhoto, planApply, type AppliedFile, type ApplyFilesOptions, type ApplyPlan, type Fit } from './apply-files.js';
export { checkApplied, type CheckedPhoto, type CheckOptions } from './apply-check.js';
export { decodePhoto, encodePhoto, type EncodeOptions, type Photo, type PhotoFormat } from './photo-codec.js';
export { estimateJpegQuality } from './jpeg-quality.js';

// perturbation and report files
export { writeFileAtomic, writeJsonAtomic } from './atomic-files.js';
export { loadPerturbation, PERTURBATION_FILES, savePerturbation, type LoadedPerturbation } from './perturbation-files.js';
export { encodePng, writePng } from './png.js';
export { readFileBounded, readNpyFile, type BoundedReadOptions } from './bounded-read.js';
export { acquireRunLock, LOCK_FILE, type RunLock } from './run-lock.js';
export { checkOutDir, checkOutFile, openOutDir, type OutDir } from './out-dir.js';
export { collectReportData, hasContent, type CollectOptions } from './report-files.js';

// hardening in a folder (checkpoint, hardened model, harden.json)
export { HardenCheckpoint } from './harden-checkpoint.js';
export { folderModelStore, hardenInFolder, type FolderHardenOptions } from './harden-folder.js';

// a Classifier on worker threads
export { WorkerPoolClassifier, type WorkerPoolOptions } from './worker-pool-classifier.js';

// the ONNX Runtime engine (onnxruntime-node is imported on first use, so uap/node works where it does not load)
export { loadOrtEngine } from './ort-engine.js';
export type { OrtClassifier, OrtClassifierOptions, OrtDevice } from './ort-classifier.js';

// the job queue (BullMQ on Redis): workers, the coordinator, and evaluations / SGD gradients over shards
export { checkRedis, parseQueueUrl, QUEUE_NAME, redactUrl } from './queue/connection.js';
export { Coordinator, type RunJobsOptions, type ShardJob } from './queue/coordinator.js';
export type { DataRef, EvalJob, GradientJob, PerturbationRef, PredictJob, QueueJob, RowResult } from './queue/jobs.js';
export { perturbationRef, queuedEvaluate, queuedTransferMatrix, type QueuedEvalRequest, type QueuedEvaluation } from './queue/queued-eval.js';
export { queuedSgdEngine, type QueuedSgdOptions } from './queue/sgd-engine.js';
export { datasetSize, openIndexedData, type DataSpec, type IndexedData } from './queue/shard-data.js';
export { formatQueueStatus, queueStatus, type QueueStatus } from './queue/status.js';
export { startWorker, type RunningWorker, type WorkerOptions } from './queue/worker.js';
