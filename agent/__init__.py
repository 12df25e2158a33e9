"""greenloop's agent, by concept: cli/ (one module per command), run/ (the loop and what it
stands on), new/, fix/, batch/, show/ (the three commands and the record read back), model/,
edits/, git/, and errors, task, syntax, doctor, textclean.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
