import os
import sys

from report.cli import main

code = main()
if "torch" in sys.modules:
    # Tearing down torch's modules and threads takes about 0.4 s and has nothing left to save: every
    # output is written and closed, locks are released and worker processes have been joined by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
