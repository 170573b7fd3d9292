/**
 * Test only: metro.config.js for a bundle that runs on a bare Hermes VM (the `hermes` CLI)
 * instead of inside a React Native app. What changes:
 *
 * - nothing runs before the entry module. An app's bundle first runs `react-native/setup-env`
 *   (timers, the native bridge, `window`, `self`, …), which needs React Native's native
 *   runtime; the test's own polyfills stand in for the globals the SDK needs;
 * - Metro's transform cache lives in the app's build/ directory, not in the system's temporary
 *   directory, so every run starts from nothing (with `--reset-cache`, as a release build does)
 *   and leaves nothing behind.
 *
 * With PETFL_METRO_RESOLUTION=default, Metro's own resolution instead of metro.config.js's
 * libsodium rule: the test shows that bundle fails.
 */
const path = require('node:path');
const { getDefaultConfig } = require('@react-native/metro-config');

const config =
  process.env.PETFL_METRO_RESOLUTION === 'default' ? getDefaultConfig(__dirname) : require('./metro.config.js');

config.serializer.getModulesRunBeforeMainModule = () => [];
config.cacheStores = ({ FileStore }) => [new FileStore({ root: path.join(__dirname, 'build', 'metro-cache') })];

module.exports = config;
