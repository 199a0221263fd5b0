import type { ZooEntry } from './zoo.js';

/**
 * The two interfaces loadModel reads model files through (src/models/load.ts), apart from it so that the
 * format loaders (e.g. the ONNX one, which reads a sidecar JSON) can take a folder without importing loadModel.
 */

/** The files of one model: reads them by their path relative to the main file. */
export interface ModelFolder {
  /** Names the folder (or URL) in error messages. */
  readonly name: string;
  /** For URL folders: their origin; weight URLs on that origin are allowed. */
  readonly origin?: string;
  /** Reads `rel` (already checked to stay inside the folder, or an absolute URL on `origin`). */
  read(rel: string): Promise<Uint8Array>;
  /**
   * Called once the model has been parsed from what `read` returned: a folder that downloads keeps its
   * downloads in memory until then and caches them now, so a broken download (an HTML error page) is never cached.
   */
  loaded?(): Promise<void>;
}

/**
 * How loadModel reaches model files: zoo models by entry, anything else by path or URL (fetchModelIO in a browser,
 * nodeModelIO from uap/node).
 */
export interface ModelIO {
  /** The files of a zoo model. */
  zoo(entry: ZooEntry): ModelFolder;
  /** A user-given path or URL → its folder and main file name; NOT_FOUND when missing. */
  open(location: string): Promise<{ folder: ModelFolder; file: string }>;
}
