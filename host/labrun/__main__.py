"""`python -m labrun`: the same command line as the `labrun` script."""

from labrun.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
