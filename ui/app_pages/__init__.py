"""One script per page of the app; each ends with ``run_page(render)``."""
