/** The version of uap (package.json's; test/version.test.ts keeps them equal). Written into every result file. */
export const VERSION = '0.1.0';
