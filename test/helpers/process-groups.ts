/** Process groups of every rank of a world, in this process, over real loopback sockets. */
import type { CommConfigInput } from '../../engine/comm/config.js';
import { ProcessGroup } from '../../engine/comm/process-group.js';
import { freePort, newRunToken } from '../../engine/launch/local-ranks.js';

export async function localGroups(
  world: number,
  extra: Partial<CommConfigInput> = {},
  onRejected?: (reason: string) => void,
): Promise<{ groups: ProcessGroup[]; token: string; masterPort: number }> {
  const token = newRunToken();
  const masterPort = await freePort();
  const groups = await Promise.all(
    Array.from({ length: world }, (_, rank) =>
      ProcessGroup.init(
        {
          rank,
          world,
          localWorld: world,
          masterAddr: '127.0.0.1',
          masterPort,
          token,
          joinTimeoutMs: 10_000,
          ...extra,
        },
        onRejected,
      ),
    ),
  );
  return { groups, token, masterPort };
}
