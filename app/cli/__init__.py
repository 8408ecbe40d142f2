"""`hearth`, the command line: the same Qt-free core as the window, one module per verb family."""
