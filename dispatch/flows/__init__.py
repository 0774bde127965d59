"""Cross-domain flows: keyword-only async functions over a `dispatch.runtime.Runtime`."""
