/** Small vector measures shared by tests, benchmarks and the reducers. */

/** ||a - b|| / ||b|| (0 when b is zero). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}
