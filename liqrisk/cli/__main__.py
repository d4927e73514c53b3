import sys

from liqrisk.cli import main

sys.exit(main())
