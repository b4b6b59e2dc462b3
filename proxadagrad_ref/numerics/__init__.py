"""The numerics layer: the arithmetic of every profile, written once.

* :mod:`.ops` -- the vocabulary formulas are written in, and its meaning on arrays;
* :mod:`.fparith` -- correctly rounded FMA and flush-to-zero from standard operations;
* :mod:`.profiles` -- the formulas of each profile and :class:`~.profiles.Profile` (data);
* :mod:`.interpret` -- running a formula under another meaning of its names, and tracing it.
"""
