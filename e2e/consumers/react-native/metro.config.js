/**
 * The app's Metro configuration: exactly the one REACT-NATIVE.md gives (keep the two in step).
 *
 * React Native's defaults, plus one resolver rule. Metro resolves package exports with the
 * conditions `react-native`, `import`/`require`; for `import` it would pick libsodium's ESM
 * builds, which need WebAssembly (Hermes has none) and use `import.meta`, which hermesc
 * rejects. So both libsodium packages go to their CommonJS builds (with the pure-JS fallback),
 * and the Node built-ins those builds name in branches Hermes never takes become empty modules.
 */
const { getDefaultConfig } = require('@react-native/metro-config');

const config = getDefaultConfig(__dirname);

const commonJs = {
  // require.resolve applies the `require` condition: dist/modules-sumo/*.js
  'libsodium-wrappers-sumo': require.resolve('libsodium-wrappers-sumo'),
  'libsodium-sumo': require.resolve('libsodium-sumo'),
};
config.resolver.resolveRequest = (context, moduleName, platform) => {
  if (commonJs[moduleName]) return { type: 'sourceFile', filePath: commonJs[moduleName] };
  if (/^(node:)?(crypto|fs|path)$/.test(moduleName)) return { type: 'empty' };
  return context.resolveRequest(context, moduleName, platform);
};

module.exports = config;
