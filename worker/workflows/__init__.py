"""Temporal workflows. Modules here import only temporalio, their sibling workflow modules, and,
passed through the sandbox, the pydantic contracts (``worker.contracts``, ``worker.step_calls``)
and the pure domain modules (the definition model, the template language)."""
