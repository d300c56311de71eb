import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.local/', 'bench/results/', '**/*.cjs', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The bench and the scripts are plain ES modules for Node: type-aware where it finds bugs (dropped
    // promises), without the rules that need declared types.
    files: ['bench/**/*.mjs', 'scripts/**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'Buffer', 'URL', 'fetch', 'AbortSignal', 'performance', 'setTimeout', 'setImmediate']
          .concat(['clearTimeout', 'setInterval', 'clearInterval'])
          .map((name) => [name, 'readonly']),
      ),
    },
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // The dashboard's page script runs in the browser, as a plain ES module.
    files: ['libs/dashboard/src/public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: false, project: null },
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'EventSource', 'setTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },
  // The layers, lowest first: common <- cache-core <- users, blog, app-shell, dashboard <- apps. A lib imports only
  // libs below it, and only through their `@app/...` name (never a relative path into another lib).
  ...[
    ['common', ['@app/cache-core', '@app/users', '@app/blog', '@app/shell', '@app/dashboard']],
    ['cache-core', ['@app/users', '@app/blog', '@app/shell', '@app/dashboard']],
    ['users', ['@app/blog', '@app/shell', '@app/dashboard']],
    ['blog', ['@app/users', '@app/shell', '@app/dashboard']],
    ['app-shell', ['@app/users', '@app/blog', '@app/dashboard']],
    ['dashboard', ['@app/cache-core', '@app/users', '@app/blog', '@app/shell']],
  ].map(([lib, above]) => ({
    files: [`libs/${lib}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: above.map((name) => ({ name, message: `libs/${lib} sits below ${name}: it must not import it` })),
          patterns: [
            {
              // A path into any lib's src/ (a file of the same lib never names its own lib's folder).
              group: ['common', 'cache-core', 'users', 'blog', 'app-shell', 'dashboard']
                .map((name) => `**/${name}/src/**`)
                .concat(['**/libs/**', '**/apps/**']),
              message: 'Import another lib by its @app/... name, never by a relative path out of this lib',
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['test/**/*.ts', '**/*.spec.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  prettier,
);
