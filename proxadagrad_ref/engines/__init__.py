"""The engines layer: how a formula is evaluated over arrays, never changing a bit.

* :mod:`.step` -- :class:`~.step.Elementwise` and :class:`~.step.RowUpdate`, what an engine evaluates;
* :mod:`.dispatch` -- choosing an engine (:func:`~.dispatch.evaluate`, :func:`~.dispatch.engine_info`);
* :mod:`.reference` -- whole arrays of any array-API namespace (defines the results);
* :mod:`.chunked` -- cache-sized blocks of NumPy arrays, a recorded formula replayed;
* :mod:`.numba` -- the formula compiled by numba (a dependency where numba has wheels);
* :mod:`.ccode`, :mod:`.cupy` -- the formula as C++, one fused CuPy kernel (inline PTX: no flush to zero);
* :mod:`.nvrtc` -- NVRTC through ctypes, to read a kernel's PTX without a GPU;
* :mod:`.pool` -- the thread pool the NumPy engines share.
"""
