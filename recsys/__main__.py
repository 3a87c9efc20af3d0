"""`python -m recsys …`: the headless front door (see recsys.cli)."""

import sys

from recsys.cli import main

if __name__ == "__main__":  # not when a spawned job process imports the parent's main module
    sys.exit(main())
