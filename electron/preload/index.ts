import { contextBridge, ipcRenderer } from 'electron';
import { IpcChannels, type GradBenchApi, type VersionInfo } from './api';

const api: GradBenchApi = {
  version: () => ipcRenderer.invoke(IpcChannels.version) as Promise<VersionInfo>,
};

contextBridge.exposeInMainWorld('gradbench', api);
