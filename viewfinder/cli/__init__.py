"""The command line: ``ask VIDEO QUESTION`` and ``viewfinder {ask,models,index,eval,serve,mcp,transcript}``.

The only package that prints or configures logging. Errors the user can fix print one line
and exit 1; ``--debug`` shows the full traceback. :mod:`.main` builds the parser and runs a
command; one module per command (:mod:`.ask`, :mod:`.models`, :mod:`.index`, :mod:`.evaluate`,
:mod:`.transcript`, :mod:`.serve`, :mod:`.mcp`); :mod:`.help` formats every ``--help`` and
:mod:`.progress` draws the progress bars.
"""

from .ask import add_ask_arguments as add_ask_arguments
from .main import ask_main as ask_main
from .main import build_parser as build_parser
from .main import main as main
from .progress import ProgressBars as ProgressBars

__all__ = ["ProgressBars", "add_ask_arguments", "ask_main", "build_parser", "main"]
