"""The window: everything that imports Qt, through app/gui/qt.py."""
