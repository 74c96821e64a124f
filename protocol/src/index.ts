export * from './codes.js';
export * from './limits.js';
export * from './frames.js';
export * from './codec.js';
export * from './validate.js';
export * from './ids.js';
