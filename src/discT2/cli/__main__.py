import sys

from discT2.cli import main

# The guard keeps worker processes of a parallel run (spawned, they import the main module
# again) from starting the command line a second time.
if __name__ == "__main__":
    sys.exit(main())
