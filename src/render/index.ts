export * from './command.js';
export * from './file.js';
export * from './template.js';
export * from './read-back.js';
