"""The layer canvas: a QGraphicsScene mirroring the graph, and its view."""
