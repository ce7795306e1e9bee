"""The engine: the compiled epoch loop (loop), the memory check before compiling
(resources), and the store that keeps a sweep's finished units (store)."""
