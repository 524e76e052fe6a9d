"""Training and evaluation: the training loop (``train``, DDP-ready), the loss (``losses``),
PCK / OKS AP (``metrics``), evaluation of weights (``evaluate``), the recipe behind the shipped
weights (``recipe``), the scorecard that ranks them (``scorecard``) and the benchmarks
(``bench``, ``benchvideo``)."""
