"""Runs one command and measures it as the operating system saw it.

Usage: python measure.py OUT.json -- COMMAND [ARG...]

The command's stdout and stderr pass through; OUT.json gets its wall time, its CPU time
(user + system) and its peak resident set size, all from getrusage(RUSAGE_CHILDREN) of
this process, whose only child is the command. The exit code is the command's.
"""

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    out, sep, *command = sys.argv[1:]
    if sep != "--" or not command:
        print(__doc__, file=sys.stderr)
        return 64
    started = time.perf_counter()
    code = subprocess.call(command)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump(
            {
                "exit": code,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                # Linux reports ru_maxrss in KiB.
                "peak_rss_kib": usage.ru_maxrss,
            },
            f,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
