"""Run the accord worker: `python worker.py` (the same as `accord worker`)."""

from accord.worker import main

if __name__ == "__main__":
    main()
