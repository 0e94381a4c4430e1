"""GradBench's PyTorch engine: the built-in engine's GPT, data and schedule under torchrun.

Started by the GradBench launcher (one torchrun per method) or by hand / by Slurm on several
hosts (see README.md); each rank reports one metrics line per step in GradBench's store schema.
The communication hooks in `hooks` are plain DDP comm hooks and can be registered in any script.
"""
