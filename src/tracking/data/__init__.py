"""Data: the datasets a run trains on (``datasets``) and the offline MNIST (``mnist``)."""
