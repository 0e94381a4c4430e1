/**
 * Sandboxed preload: exposes `window.gradbench` (GradBenchApi over IPC) and nothing else. Calls go
 * through one channel and are validated in the main process; events arrive on another.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { makeApi, type ApiEvent } from '../../engine/app/api';
import { CALL_CHANNEL, EVENT_CHANNEL } from '../main/ipc';

const api = makeApi(
  (name, args) => ipcRenderer.invoke(CALL_CHANNEL, name, args),
  (listener) => {
    const forward = (_e: IpcRendererEvent, event: ApiEvent): void => listener(event);
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => ipcRenderer.off(EVENT_CHANNEL, forward);
  },
);

contextBridge.exposeInMainWorld('gradbench', api);
