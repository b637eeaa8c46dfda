"""``import mas`` gives the MAS client class itself, so the seed's ``class MAS_Client(mas)`` works.

The seed subclasses the imported name directly; a module cannot be subclassed, so this module
replaces itself in ``sys.modules`` with the class.
"""

import sys

from nl_trader.client import MAS

sys.modules[__name__] = MAS  # type: ignore[assignment]
