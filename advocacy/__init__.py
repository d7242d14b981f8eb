"""The advocacy pipeline: whom to ask now, for what, and whom to leave alone.

One installed namespace over the repository's folders (pyproject.toml maps them):
`advocacy.data_contracts` (data_contracts/), `advocacy.features` (features/),
`advocacy.models` (models/), `advocacy.policy` (policy/), `advocacy.pipelines` (pipelines/),
`advocacy.synthetic` (synthetic/), and `advocacy.settings`, the one typed settings object.
docs/design.md is the map of which file owns which rule. Nothing happens at import.
"""
