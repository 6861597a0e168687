"""The isolated side of grading: everything that runs next to a student's code.

- process.py   the zygote (one warm Python with torch imported) and the notebook processes forked
               from it, which run a notebook's cells and then one check's call after another;
- sandbox.py   the walls around a notebook process (namespaces, limits, uid drop, seccomp);
- codec.py     the plain-data format every message crosses the boundary in (JSON + .npy blobs,
               never pickle);
- harness.py   what harness authors use: get_function() and the `call` harness.

Nothing here ever holds an expected value, a reference implementation or a score.
"""
