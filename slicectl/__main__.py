import sys

from slicectl.cli import main

sys.exit(main())
