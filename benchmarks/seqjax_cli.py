"""Run the `seqjax` command line in this process and time the command apart from the imports.

    python benchmarks/seqjax_cli.py TIMING.json -- train spec.toml --no-progress

The heavy imports (jax, flax, the training and inference stack; for `preprocess` only what it
imports itself) happen first and are timed as `import_s`; then `seqjax.cli.main(argv)` runs exactly as the `seqjax` script would and is timed
as `call_s`. sequifier's own log marks its start after its imports, so `call_s` is the figure
to set beside the time between sequifier's "Starting" and "Complete" log lines.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    timing, argv = pathlib.Path(sys.argv[1]), sys.argv[3:]
    start = time.perf_counter()
    import seqjax.cli
    import seqjax.experiment  # noqa: F401

    if argv and argv[0] == "preprocess":  # preprocessing imports no accelerator stack
        import seqjax.preprocess  # noqa: F401
    else:
        import flax.nnx  # noqa: F401
        import jax  # noqa: F401

    imported = time.perf_counter()
    code = seqjax.cli.main(argv)
    done = time.perf_counter()
    timing.write_text(json.dumps({"import_s": imported - start, "call_s": done - imported, "returncode": code}))
    return code


if __name__ == "__main__":
    sys.exit(main())
