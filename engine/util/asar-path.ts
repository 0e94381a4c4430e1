/**
 * A packaged app keeps its files in `resources/app.asar` and the files listed in electron-builder's
 * `asarUnpack` beside it in `resources/app.asar.unpacked`. Only Electron's own process can read
 * inside the archive; a rank or worker process sees it as one opaque file (and cannot use it as a
 * working directory), so every path that such a process runs or reads must be the unpacked one.
 */
const ASAR_SEGMENT = /([\\/])app\.asar(?=[\\/]|$)/;

/** `path` with its `app.asar` folder replaced by `app.asar.unpacked`; other paths unchanged. */
export function unpackedPath(path: string): string {
  return path.replace(ASAR_SEGMENT, '$1app.asar.unpacked');
}
