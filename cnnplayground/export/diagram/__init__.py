"""Architecture diagrams of a network: layouts (flow, block) into a :class:`~.scene.Scene`, and writers."""
