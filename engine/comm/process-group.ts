/**
 * One rank's communication stack, assembled: rendezvous store (hosted by rank 0), TCP mesh with
 * link emulation, and the collectives on top. Runs wherever it is created (the comm worker thread
 * in production; directly in a test process when several ranks share one process).
 */
import { Collectives } from './collectives.js';
import { CommConfigSchema, type CommConfig, type CommConfigInput } from './config.js';
import { Topology } from './emulation.js';
import { TcpMesh } from './mesh.js';
import { StoreClient, StoreServer } from './store.js';
import { COMM_STREAMS, streamTransport } from './stream-transport.js';

export class ProcessGroup {
  private shuttingDown = false;
  /** One Collectives per comm stream (stream-transport.ts); `collectives` is stream 0's. */
  readonly streams: Collectives[];

  private constructor(
    readonly config: CommConfig,
    readonly store: StoreClient,
    readonly mesh: TcpMesh,
    readonly collectives: Collectives,
    private readonly storeServer: StoreServer | undefined,
  ) {
    this.streams = [
      collectives,
      ...Array.from(
        { length: COMM_STREAMS - 1 },
        (_, i) => new Collectives(streamTransport(mesh, i + 1), collectives.topology),
      ),
    ];
  }

  static async init(
    input: CommConfigInput,
    onRejected?: (reason: string) => void,
  ): Promise<ProcessGroup> {
    const config = CommConfigSchema.parse(input);
    const topology = new Topology(config.world, config.world / config.localWorld);
    let server: StoreServer | undefined;
    if (config.rank === 0) {
      server = new StoreServer(config.token, config.handshakeTimeoutMs);
      await server.listen(config.masterAddr, config.masterPort);
    }
    let store: StoreClient | undefined;
    try {
      store = await StoreClient.connect({
        host: config.masterAddr,
        port: config.masterPort,
        token: config.token,
        rank: config.rank,
        connectTimeoutMs: config.joinTimeoutMs,
      });
      const mesh = await TcpMesh.create({
        rank: config.rank,
        world: config.world,
        token: config.token,
        store,
        listenHost: config.listenHost,
        advertiseHost: config.advertiseHost,
        topology,
        network: config.network,
        joinTimeoutMs: config.joinTimeoutMs,
        maxMessageBytes: config.maxMessageBytes,
        handshakeTimeoutMs: config.handshakeTimeoutMs,
        onRejected,
      });
      const stream0 = new Collectives(streamTransport(mesh, 0), topology);
      return new ProcessGroup(config, store, mesh, stream0, server);
    } catch (e) {
      store?.close();
      await server?.close();
      throw e;
    }
  }

  get rank(): number {
    return this.config.rank;
  }

  get world(): number {
    return this.config.world;
  }

  /**
   * Orderly shutdown: wait until every rank has asked to shut down (so nobody's EOF is mistaken
   * for a crash), then close links; rank 0 closes the store last.
   */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    try {
      if (!this.mesh.failure) {
        this.mesh.beginShutdown();
        await this.store.barrier('shutdown', this.world, timeoutMs);
      }
    } finally {
      await this.mesh.close();
      this.store.close();
      await this.storeServer?.close();
    }
  }

  /** Immediate teardown after a failure: no coordination with peers that may be gone. */
  async abort(): Promise<void> {
    this.shuttingDown = true;
    await this.mesh.close();
    this.store.close();
    await this.storeServer?.close();
  }
}
