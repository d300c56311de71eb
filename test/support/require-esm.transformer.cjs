// Jest on Node 20 cannot require() an ES module, which Node 20 itself can. Some CommonJS dependencies
// (@fastify/static -> content-disposition@2) do exactly that. When Jest loads a node_modules file through
// require() and the file is ESM, compile it to CommonJS; everything imported as ESM passes through untouched.
const ts = require('typescript');

const ESM_SYNTAX = /^\s*(import\s[^(]|export\s)/m;

module.exports = {
  process(source, filename, options) {
    if (options.supportsStaticESM || !ESM_SYNTAX.test(source)) return { code: source };
    const { outputText } = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        allowJs: true,
        esModuleInterop: true,
      },
    });
    return { code: outputText };
  },
  getCacheKey(source, filename, options) {
    return `${filename}:${options.supportsStaticESM}:${source.length}:${require('crypto').createHash('sha1').update(source).digest('hex')}`;
  },
};
