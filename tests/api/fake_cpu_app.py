"""``python -m tests.api.fake_cpu_app [app.py's options]``: the real app (``app.main``) on a CPU
that reports native bfloat16, so that its ``auto`` format is bfloat16 on any test machine.

Only the engine's /proc/cpuinfo reader is replaced (``steering.engine.precision.use_cpuinfo``);
everything else is what ``python app.py`` runs.
"""

from __future__ import annotations

import sys

import app
from steering.engine import precision

NATIVE_BF16_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"

if __name__ == "__main__":
    precision.use_cpuinfo(lambda: NATIVE_BF16_CPUINFO)
    sys.exit(app.main(sys.argv[1:]))
