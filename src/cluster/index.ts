export * from './keys.js';
export * from './state.js';
export * from './validate.js';
export * from './values.js';
