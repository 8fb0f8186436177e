"""The network and what is measured of its predictions: building and loading classifiers
(modeling), the distillation loss, the teacher and student roles, and accuracy metrics."""
