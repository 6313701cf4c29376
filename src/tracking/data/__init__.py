"""Data: a source read and its splits sized with light imports (``sources``), the datasets a run
trains on (``datasets``) and the offline MNIST (``mnist``)."""
