/** One PyTorch engine option and whether it can run here. */
export interface TorchOption {
  id: string;
  name: string;
  available: boolean;
  reason?: string;
}

/** The PyTorch engine on this machine (engine/torch/probe.ts). */
export interface TorchProbe {
  /** The engine can run: a python3 with torch and a collective backend. */
  available: boolean;
  /** Why not, when it cannot. */
  reason?: string;
  /** The interpreter used (the first of $GRADBENCH_PYTHON, python3 on PATH, /usr/bin/python3 with torch). */
  executable?: string;
  python?: string;
  torch?: string;
  cuda?: { available: boolean; version: string | null; devices: string[] };
  nccl?: { available: boolean; version: string | null };
  gloo?: boolean;
  options: TorchOption[];
}
