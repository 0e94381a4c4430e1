"""torchrun (`torch.distributed.run`), made to start on Python 3.11 with torch < 2.0.

Python 3.11 no longer lists an IntFlag's zero member when iterating it, so torch 1.13's
`Std.from_str("0")` (the default of --redirects and --tee) returns None and torchrun fails before
starting any worker. This entry point parses those flags itself and then runs torchrun unchanged:
`python3 -m gradbench_torch.torchrun <torchrun arguments>`.
"""
import re

from torch.distributed.elastic.multiprocessing import api


def std_from_str(vm: str):
    if re.match(r"^[0123]$", vm):
        return api.Std(int(vm))
    if re.match(r"^(\d:[0123],)*(\d:[0123])$", vm):
        return {int(k): api.Std(int(v)) for k, v in (pair.split(":") for pair in vm.split(","))}
    raise ValueError(f"{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>")


if api.Std.from_str("0") is None:
    api.Std.from_str = staticmethod(std_from_str)

if __name__ == "__main__":
    from torch.distributed.run import main

    main()
