"""The Qt-free core the window and `hearth` share: turns, models, prompts, documents, export."""
