"""The suite's workers each run one BLAS thread (tests/conftest.py): with more, two workers on
two cores spin against each other and the suite takes several times as long."""


def test_each_worker_runs_one_blas_thread():
    import scipy.linalg  # noqa: F401 (scipy's own BLAS, loaded after the conftest's limit)
    from threadpoolctl import threadpool_info

    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == 1 for lib in blas), blas
