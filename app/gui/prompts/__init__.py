"""The prompt library's widgets: the / palette, the variables form, the preset bar, the window."""
