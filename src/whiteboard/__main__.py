import sys

from whiteboard.cli import main

sys.exit(main())
