"""``python -m bench [--quick]``: the serving benchmarks of :mod:`bench.run`."""

from bench.run import main

if __name__ == "__main__":
    main()
