"""The Qt desktop application: the only package that imports PySide6 / pyqtgraph."""
