"""The kernels layer: the public dense and sparse kernels, their argument checks and gradient forms.

* :mod:`.checks` -- argument validation (every error names its argument);
* :mod:`.grads` -- the one parser of sparse gradient forms, the index check, duplicate summing;
* :mod:`.dense` -- ``prepare_dense`` -> :class:`~.dense.DenseStep` -> ``run_dense``;
* :mod:`.sparse` -- ``prepare_sparse`` -> :class:`~.sparse.SparseStep` -> ``run_sparse``.
"""
