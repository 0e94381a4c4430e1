/** Where the suite keeps run directories: benchmarks/runs/ (not committed) unless told otherwise. */
import path from 'node:path';
import { packageRoot } from '../../engine/util/runtime-path.js';

export const DEFAULT_HOME = path.join(packageRoot, 'benchmarks', 'runs');
