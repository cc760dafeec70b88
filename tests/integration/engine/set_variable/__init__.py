"""A step type that is not built in, defined the way a new one is: its domain module (config.py,
what would be domain/steps/set_variable.py) and its runner (runner.py, what would be
worker/workflows/steps/set_variable.py). test_new_step_type.py adds the registry line."""
