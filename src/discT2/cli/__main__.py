import sys

from discT2.cli import main

sys.exit(main())
