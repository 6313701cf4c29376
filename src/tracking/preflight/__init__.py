"""Checks made before anything heavy starts (standard library and numpy): the data source
(``sources``), what a logged model will take (``inputs``), the tracking server and databases
(``servers``)."""
