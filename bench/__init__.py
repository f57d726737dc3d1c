"""accord's benchmark suite: `python -m bench` (all), `python -m bench NAME...` (some), `--quick`.

Every figure is reported next to a baseline measured in the same run on the same machine, as a
ratio, because absolute times on a shared machine drift. See docs/performance.md.
"""
