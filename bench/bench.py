#!/usr/bin/env python3
"""Entry point of bench/run (the package is bench/dbsbench)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsbench.main import main  # noqa: E402

sys.exit(main())
