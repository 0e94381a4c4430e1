export const IpcChannels = {
  version: 'gradbench:version',
} as const;

export type IpcChannel = (typeof IpcChannels)[keyof typeof IpcChannels];

export interface VersionInfo {
  name: string;
  version: string;
}

export interface GradBenchApi {
  version(): Promise<VersionInfo>;
}
