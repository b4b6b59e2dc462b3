"""The array-library layer: what the rest of the package needs to know about NumPy, CuPy, torch, JAX, Dask.

The lowest layer of the package (``backends`` < ``numerics`` < ``engines`` <
``kernels`` < ``optim`` < ``vectors``): nothing here imports another layer.
:mod:`.compat` is the one import site of array-api-compat.
"""
