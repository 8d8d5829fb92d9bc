"""plugdata: build, publish, train on and judge PLUG cross-lingual instruction datasets.

Importing this package stays light: no torch, no datasets; heavy libraries load when used.
"""

from plugdata.errors import PlugdataError

__version__ = "0.1.0"
__all__ = ["PlugdataError", "__version__"]
