"""What a run shows: learning curves and the confusion matrix (``curves``), several metrics at
once (``charts``), regression's figures (``regression``), the diagnosis of the curves
(``diagnosis``), the model card (``model_card``) and how they are logged (``artifacts``)."""
