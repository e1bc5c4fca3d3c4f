"""``python -m charlm``: the ``charlm`` command (see ``charlm.cli``)."""

import sys

from charlm.cli import main

sys.exit(main())
