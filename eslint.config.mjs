// ESLint for the replay page's script, gentrace/assets/replay.js (run by .ci/run as `npx eslint`).
// No plugins or shared configs, so nothing to install: eslint's own rules and the browser globals
// the script uses, listed.
export default [
  {
    files: ["gentrace/assets/**/*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { window: "readonly", document: "readonly" },
    },
    rules: {
      "no-cond-assign": "error",
      "no-const-assign": "error",
      "no-dupe-args": "error",
      "no-dupe-keys": "error",
      "no-duplicate-case": "error",
      "no-empty": "error",
      "no-fallthrough": "error",
      "no-func-assign": "error",
      "no-redeclare": "error",
      "no-self-assign": "error",
      "no-shadow-restricted-names": "error",
      "no-undef": "error",
      "no-unreachable": "error",
      "no-unsafe-finally": "error",
      "no-unused-vars": "error",
      "no-use-before-define": ["error", { functions: false }],
      "no-useless-escape": "error",
      "use-isnan": "error",
      "valid-typeof": "error",
      strict: ["error", "global"],
    },
  },
];
