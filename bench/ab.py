#!/usr/bin/env python3
"""Round-robin timing of whole commands: runs each command once per round, ROUNDS rounds (after two
warm-up rounds), and prints the median wall time, its quartiles, and the median CPU (user + system
of the process and its children) for each. Alternating the commands puts them under the same
conditions on a noisy machine.

    bench/ab.py ROUNDS 'COMMAND A' 'COMMAND B' ...

A command may start with VAR=value assignments for its environment. Output is discarded.
"""
import os
import shlex
import statistics
import sys
import time


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    if not 1 <= rounds <= 500:
        sys.exit("ROUNDS must be 1..500")
    commands = sys.argv[2:]
    results = {c: ([], []) for c in commands}
    devnull = os.open(os.devnull, os.O_WRONLY)
    for r in range(rounds + 2):
        for command in commands:
            args = shlex.split(command)
            env = dict(os.environ)
            while args and "=" in args[0] and not args[0].startswith("/"):
                key, value = args.pop(0).split("=", 1)
                env[key] = value
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.execvpe(args[0], args, env)
            _, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"failed: {command}")
            if r >= 2:
                results[command][0].append(wall * 1000)
                results[command][1].append((usage.ru_utime + usage.ru_stime) * 1000)
    for command in commands:
        wall, cpu = results[command]
        q = statistics.quantiles(wall) if len(wall) > 1 else [wall[0]] * 3
        print(f"{statistics.median(wall):8.1f} ms wall (q1 {q[0]:7.1f}, q3 {q[2]:7.1f}) {statistics.median(cpu):7.1f} ms CPU  {command}")


if __name__ == "__main__":
    main()
