// As in React Native's app template.
module.exports = {
  presets: ['module:@react-native/babel-preset'],
};
