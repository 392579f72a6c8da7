"""The ``make run`` demo: emulated 1C, sync, SMS and the cabinet in one process, with seed 004's customers."""
