/**
 * The Electron main process: one hardened window, the menu, and IPC handlers that only validate
 * and delegate to the engine's services (loaded from the compiled engine in dist/). Runs belong to
 * this process, not to the window: a reload keeps them going, and quitting asks first.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  session,
  type MenuItemConstructorOptions,
} from 'electron';
import type { Host } from '../../engine/app/host';
import { unpackedPath } from '../../engine/util/asar-path';
import { CloseGuard } from './close-guard';
import { CALL_CHANNEL, EVENT_CHANNEL, handleCall } from './ipc';

const devServerUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
const rendererFile = join(import.meta.dirname, '../renderer/index.html');
const preloadFile = join(import.meta.dirname, '../preload/index.cjs');
const appUrl = new URL(devServerUrl ?? pathToFileURL(rendererFile).href);

function isAppUrl(rawUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return false;
  }
  if (appUrl.protocol === 'file:') {
    return url.protocol === 'file:' && url.pathname === appUrl.pathname;
  }
  return url.origin === appUrl.origin;
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'GradBench',
    webPreferences: {
      preload: preloadFile,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });

  win.once('ready-to-show', () => win.show());

  if (devServerUrl) {
    void win.loadURL(devServerUrl);
  } else {
    void win.loadFile(rendererFile);
  }
  return win;
}

function buildMenu(): Menu {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' } as const] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { role: 'forceReload' },
        ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' } as const]),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
  ];
  return Menu.buildFromTemplate(template);
}

app.enableSandbox();

app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
});

/**
 * The engine, from its compiled output (rank processes need the same files anyway); in a packaged
 * app from the unpacked copy beside app.asar, where ranks also find node_modules and data/.
 */
async function loadHost(): Promise<Host> {
  const entry = join(unpackedPath(app.getAppPath()), 'dist', 'engine', 'app', 'host.js');
  const engine = (await import(
    pathToFileURL(entry).href
  )) as typeof import('../../engine/app/host');
  return engine.createHost({ home: app.getPath('userData') });
}

/** Asks before a window close would cancel a running benchmark; true to go on closing. */
function confirmCancel(win: BrowserWindow | undefined): boolean {
  const options = {
    type: 'warning' as const,
    buttons: ['Keep running', 'Cancel the benchmark and quit'],
    defaultId: 0,
    cancelId: 0,
    title: 'A benchmark is running',
    message: 'A benchmark is still running. Quitting cancels it (its results so far are kept).',
  };
  const choice = win ? dialog.showMessageBoxSync(win, options) : dialog.showMessageBoxSync(options);
  return choice === 1;
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

void app.whenReady().then(async () => {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) =>
    callback(false),
  );
  const host = await loadHost();
  ipcMain.handle(CALL_CHANNEL, (event, name: unknown, args: unknown) =>
    handleCall(host.dispatch, isAppUrl, event, name, args),
  );
  host.service.onEvent((e) => {
    for (const win of BrowserWindow.getAllWindows())
      if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
  });
  const guard = new CloseGuard(host.service, {
    confirm: () => confirmCancel(BrowserWindow.getFocusedWindow() ?? undefined),
    quit: () => app.quit(),
  });
  app.on('before-quit', (event) => {
    if (guard.request()) event.preventDefault();
  });
  Menu.setApplicationMenu(buildMenu());
  const win = createWindow();
  win.on('close', (event) => {
    if (guard.request()) event.preventDefault();
  });

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});
