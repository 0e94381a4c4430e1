/**
 * Every compression method: one line per method file, in any order (each method's `order` says
 * where the app lists it). registry.ts reads this list.
 */
export { bf16 } from './bf16.js';
export { dgc } from './dgc.js';
export { fp16 } from './fp16.js';
export { int4 } from './int4.js';
export { int8 } from './int8.js';
export { lhc } from './lhc.js';
export { optimusCc } from './optimus-cc.js';
export { powersgd } from './powersgd.js';
export { qgz } from './qgz.js';
export { qsgd } from './qsgd.js';
export { randomk } from './randomk.js';
export { signsgd } from './signsgd.js';
export { tagc } from './tagc.js';
export { terngrad } from './terngrad.js';
export { topk } from './topk.js';
