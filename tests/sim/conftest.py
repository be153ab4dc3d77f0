"""Local pytest settings for tests/sim: the network cases (netcases.py) are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
