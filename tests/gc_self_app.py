"""An app that sets the garbage collector up itself at import: greenh2 must leave it so."""
import gc

from gc_app import app  # noqa: F401

gc.set_threshold(1234, 7, 3)
